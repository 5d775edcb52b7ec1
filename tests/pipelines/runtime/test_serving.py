"""Deployment options derived from the YAML: GPU placement is checkable without a GPU."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from streaminfer.pipelines.runtime.serving import (
    DEPLOYMENT,
    app_name,
    http_app_name,
    replica_options,
)
from streaminfer.pipelines.spec.schema import ModelSpec, PipelineSpec


def _model(**serve: object) -> ModelSpec:
    return ModelSpec.model_validate({"path": "m.onnx", "name": "fraud", "serving": "serve",
                                     "serve": serve})


def test_gpu_replicas_ask_ray_for_fractional_gpus_and_an_accelerator_type() -> None:
    options = replica_options(_model(num_gpus=0.25, num_cpus=2, accelerator_type="H100"))
    assert options["name"] == DEPLOYMENT
    assert options["ray_actor_options"] == {"num_cpus": 2, "num_gpus": 0.25,
                                            "accelerator_type": "H100"}


def test_cpu_replicas_ask_for_no_gpu_at_all() -> None:
    actor = replica_options(_model())["ray_actor_options"]
    assert actor == {"num_cpus": 1.0}


def test_serve_autoscaling_comes_from_the_yaml() -> None:
    options = replica_options(_model(min_replicas=2, max_replicas=6, initial_replicas=3,
                                     target_ongoing_requests=4, upscale_delay_s=1,
                                     downscale_delay_s=9, max_ongoing_requests=16))
    auto = options["autoscaling_config"]
    assert (auto["min_replicas"], auto["max_replicas"], auto["initial_replicas"]) == (2, 6, 3)
    assert (auto["target_ongoing_requests"], auto["upscale_delay_s"],
            auto["downscale_delay_s"]) == (4, 1, 9)
    assert options["max_ongoing_requests"] == 16
    assert replica_options(_model(min_replicas=2, max_replicas=3))[
        "autoscaling_config"]["initial_replicas"] == 2


def test_a_fixed_replica_count_is_deployed_without_serve_autoscaling() -> None:
    # no autoscaling metrics for the workers' handles to gather and push (docs/serving.md)
    for count in (1, 3):
        options = replica_options(_model(min_replicas=count, max_replicas=count,
                                         max_ongoing_requests=4))
        assert options["num_replicas"] == count and "autoscaling_config" not in options
        assert options["max_ongoing_requests"] == 4
    assert "num_replicas" not in replica_options(_model(min_replicas=1, max_replicas=2))


@pytest.mark.parametrize("serve", [{"min_replicas": 3, "max_replicas": 2},
                                   {"min_replicas": 1, "max_replicas": 2, "initial_replicas": 5},
                                   {"num_gpus": -1}, {"num_gpus": 1.5}])
def test_impossible_replica_settings_are_config_errors(serve: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        _model(**serve)


def test_whole_gpus_above_one_and_fractions_below() -> None:
    assert replica_options(_model(num_gpus=2))["ray_actor_options"]["num_gpus"] == 2
    assert replica_options(_model(num_gpus=0.5))["ray_actor_options"]["num_gpus"] == 0.5
    with pytest.raises(ValidationError, match="above 1 give whole GPUs"):
        _pipeline(model={"path": "m.onnx"}, workers={"num_gpus": 2.5})


def _pipeline(**extra: object) -> PipelineSpec:
    data = {"name": "p", "source": {"topics": ["t"], "group_id": "g", "features": ["a"]},
            "sink": {"predictions_topic": "o", "dead_letter_topic": "d"}, **extra}
    return PipelineSpec.model_validate(data)


def test_application_names_are_per_pipeline_and_model() -> None:
    spec = _pipeline(model={"path": "x/fraud.onnx", "serving": "serve"})
    assert app_name(spec, spec.model_specs[0]) == "p-fraud"
    assert http_app_name(spec) == "p-http"


def test_http_needs_served_models() -> None:
    with pytest.raises(ValidationError, match=r"http\.enabled needs every model to use serving"):
        _pipeline(model={"path": "m.onnx"}, http={"enabled": True})
    spec = _pipeline(model={"path": "m.onnx", "serving": "serve"}, http={"enabled": True})
    assert spec.http.host == "127.0.0.1"  # loopback unless configured


def test_several_models_need_routing_to_known_names_and_distinct_names() -> None:
    models = [{"path": "a.onnx"}, {"path": "b.onnx"}]
    with pytest.raises(ValidationError, match="several models need 'routing'"):
        _pipeline(models=models)
    with pytest.raises(ValidationError, match="routing names unknown model"):
        _pipeline(models=models, routing={"weights": {"a": 1, "c": 1}})
    with pytest.raises(ValidationError, match="share a name"):
        _pipeline(models=[{"path": "x/a.onnx"}, {"path": "y/a.onnx"}],
                  routing={"weights": {"a": 1}})
    with pytest.raises(ValidationError, match="exactly one of 'model' or 'models'"):
        _pipeline(model={"path": "a.onnx"}, models=models, routing={"weights": {"a": 1}})
    spec = _pipeline(models=models, routing={"field": "seg", "routes": {"x": "a"},
                                             "default": "b"})
    assert [m.model_name for m in spec.model_specs] == ["a", "b"]
    assert spec.model_specs[0].path == Path("a.onnx")
