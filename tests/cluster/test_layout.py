"""Container paths: the pipeline at /config/pipeline.yaml, its relative paths resolve there."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from streaminfer.cluster.bundle import load_bundle
from streaminfer.cluster.layout import container_path, in_config_dir, layout_of, run_command
from streaminfer.errors import ConfigError


@pytest.mark.parametrize(("declared", "expected"), [
    ("../models/fraud.onnx", "/models/fraud.onnx"),
    ("model.onnx", "/config/model.onnx"),
    ("sub/dir/../m.onnx", "/config/sub/m.onnx"),
    ("/opt/models/m.onnx", "/opt/models/m.onnx"),
    ("../../../../m.onnx", "/m.onnx"),
])
def test_container_path_resolves_against_config(declared: str, expected: str) -> None:
    assert container_path(declared, "model.path", "p.yaml") == PurePosixPath(expected)


@pytest.mark.parametrize("declared", ["~/m.onnx", "..", "/", "pipeline.yaml", "."])
def test_container_path_refuses_home_and_special_paths(declared: str) -> None:
    with pytest.raises(ConfigError, match=r"model\.path"):
        container_path(declared, "model.path", "p.yaml")


def test_layout_of_a_pipeline_with_tls_files(
    write_pipeline: Callable[..., Path], sasl: dict[str, Any]
) -> None:
    security = dict(sasl, ssl_cafile="/etc/kafka/ca.pem", ssl_certfile="certs/client.pem")
    path = write_pipeline(kafka={"security": security})
    layout = layout_of(load_bundle(path))
    assert layout.pipeline == PurePosixPath("/config/pipeline.yaml")
    assert layout.models == {"model": PurePosixPath("/models/model.onnx")}
    assert in_config_dir(layout.models["model"]) is None
    assert layout.tls == {
        "ssl_cafile": PurePosixPath("/etc/kafka/ca.pem"),
        "ssl_certfile": PurePosixPath("/config/certs/client.pem"),
    }


def test_a_model_beside_the_yaml_is_inside_the_config_dir(
    write_pipeline: Callable[..., Path],
) -> None:
    layout = layout_of(load_bundle(write_pipeline(model={"path": "m/model.onnx"})))
    assert in_config_dir(layout.models["model"]) == PurePosixPath("m/model.onnx")


def test_every_model_of_several_has_its_place(write_pipeline: Callable[..., Path]) -> None:
    path = write_pipeline(
        models=[{"name": "a", "path": "a.onnx"}, {"name": "b", "path": "../models/b.onnx"},
                {"name": "c", "path": "/opt/m/c.onnx"}],
        routing={"weights": {"a": 1, "b": 1, "c": 1}}, with_model=False)
    assert layout_of(load_bundle(path)).models == {
        "models[0]": PurePosixPath("/config/a.onnx"),
        "models[1]": PurePosixPath("/models/b.onnx"),
        "models[2]": PurePosixPath("/opt/m/c.onnx"),
    }


def test_a_bad_path_of_one_of_several_models_names_it(
    write_pipeline: Callable[..., Path],
) -> None:
    path = write_pipeline(
        models=[{"name": "a", "path": "a.onnx"}, {"name": "b", "path": "~/b.onnx"}],
        routing={"weights": {"a": 1, "b": 1}}, with_model=False)
    with pytest.raises(ConfigError, match=r"models\[1\]\.path: '~/b.onnx' starts with '~'"):
        layout_of(load_bundle(path))


def test_run_command_joins_the_cluster_it_runs_in() -> None:
    assert run_command("/config/pipeline.yaml") == (
        "streaminfer run /config/pipeline.yaml --address auto --no-live"
    )
    assert run_command("my configs/p.yaml", check_only=True) == (
        "streaminfer validate-config 'my configs/p.yaml'"
    )
