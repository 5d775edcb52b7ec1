"""The cluster description model: defaults, immutability, unknown keys, bounds, descriptions."""

from __future__ import annotations

import pydantic
import pytest
from pydantic import BaseModel

from streaminfer.cluster.spec import ClusterSpec, CpuWorkersSpec, GpuWorkersSpec


def _models(root: type[BaseModel]) -> list[type[BaseModel]]:
    found = [root]
    for field in root.model_fields.values():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found += _models(annotation)
    return found


def test_defaults_describe_a_cpu_only_cluster() -> None:
    spec = ClusterSpec()
    assert spec.name is None
    assert spec.namespace == "default"
    assert spec.gpu_workers.gpus_per_node is None  # a GPU group only if the pipeline asks
    assert spec.gpu_workers.min_replicas is None and spec.gpu_workers.max_replicas is None
    assert spec.gpu_workers.node_selector == {}
    assert spec.kafka_secret_name == "kafka-credentials"
    assert spec.pip == ["streaminfer"]
    assert spec.ship_model is True


@pytest.mark.parametrize("model", _models(ClusterSpec), ids=lambda m: m.__name__)
def test_every_model_is_frozen_forbids_extras_and_describes_every_field(
    model: type[BaseModel],
) -> None:
    assert model.model_config.get("frozen") is True
    assert model.model_config.get("extra") == "forbid"
    undescribed = [name for name, f in model.model_fields.items() if not f.description]
    assert undescribed == []


def test_is_immutable() -> None:
    spec = ClusterSpec()
    with pytest.raises(pydantic.ValidationError):
        spec.namespace = "other"  # type: ignore[misc]


def test_unknown_key_is_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match="gpus"):
        ClusterSpec.model_validate({"gpus": 1})


@pytest.mark.parametrize("model", [CpuWorkersSpec, GpuWorkersSpec])
def test_min_replicas_above_max_is_refused(model: type[BaseModel]) -> None:
    with pytest.raises(pydantic.ValidationError, match=r"min_replicas \(3\) is more than"):
        model.model_validate({"min_replicas": 3, "max_replicas": 2})


@pytest.mark.parametrize("memory", ["4Gi", "512Mi", "1.5Gi", "1000000", "2G"])
def test_memory_quantities_are_accepted(memory: str) -> None:
    assert ClusterSpec.model_validate({"head": {"memory": memory}}).head.memory == memory


@pytest.mark.parametrize("memory", ["4 GB", "lots", "-1Gi", "4gb"])
def test_bad_memory_quantities_are_refused(memory: str) -> None:
    with pytest.raises(pydantic.ValidationError):
        ClusterSpec.model_validate({"head": {"memory": memory}})


@pytest.mark.parametrize("name", ["Fraud", "fraud_scoring", "-x", "x" * 51, ""])
def test_names_must_be_short_dns_labels(name: str) -> None:
    with pytest.raises(pydantic.ValidationError):
        ClusterSpec.model_validate({"name": name})


def test_gpus_per_node_is_bounded() -> None:
    with pytest.raises(pydantic.ValidationError):
        ClusterSpec.model_validate({"gpu_workers": {"gpus_per_node": -1}})
    assert ClusterSpec.model_validate(
        {"gpu_workers": {"gpus_per_node": 8}}
    ).gpu_workers.gpus_per_node == 8
