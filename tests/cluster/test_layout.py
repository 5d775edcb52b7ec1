"""Container paths: the pipeline at /config/pipeline.yaml, its relative paths resolve there."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from streaminfer.cluster.bundle import load_bundle
from streaminfer.cluster.layout import container_path, layout_of, run_command
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
    assert layout.model == PurePosixPath("/models/model.onnx")
    assert layout.model_in_config_dir is None
    assert layout.tls == {
        "ssl_cafile": PurePosixPath("/etc/kafka/ca.pem"),
        "ssl_certfile": PurePosixPath("/config/certs/client.pem"),
    }


def test_a_model_beside_the_yaml_is_inside_the_config_dir(
    write_pipeline: Callable[..., Path],
) -> None:
    layout = layout_of(load_bundle(write_pipeline(model={"path": "m/model.onnx"})))
    assert layout.model_in_config_dir == PurePosixPath("m/model.onnx")


def test_run_command_joins_the_cluster_it_runs_in() -> None:
    assert run_command("/config/pipeline.yaml") == (
        "streaminfer run /config/pipeline.yaml --address auto --no-live"
    )
    assert run_command("my configs/p.yaml", check_only=True) == (
        "streaminfer validate-config 'my configs/p.yaml'"
    )
