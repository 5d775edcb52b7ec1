"""Rendering: model files shipped where the YAML points, checked, sized; several models."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from streaminfer.errors import ConfigError
from tests.fixtures.rendering import (
    containers,
    pod_specs,
    render,
)


def test_a_model_outside_the_config_folder_is_mounted_where_the_yaml_points(
    write_pipeline: Callable[..., Path],
) -> None:
    docs, _ = render(write_pipeline())  # model.path: ../models/model.onnx
    for container in containers(docs["raycluster.yaml"]):
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        assert mounts["/config"]["readOnly"] is True
        assert mounts["/models/model.onnx"] == {
            "name": "pipeline", "mountPath": "/models/model.onnx", "subPath": "model-model.onnx",
            "readOnly": True}
    files = docs["ray-cluster.yaml"]["file_mounts"]
    assert files["/models/model.onnx"].endswith("/models/model.onnx")


def test_a_model_inside_the_config_folder_is_an_item_of_the_config_volume(
    write_pipeline: Callable[..., Path],
) -> None:
    docs, _ = render(write_pipeline(model={"path": "m/model.onnx"}))
    for pod in pod_specs(docs["raycluster.yaml"]):
        volume = next(v for v in pod["volumes"] if v["name"] == "pipeline")
        assert {"key": "model-model.onnx", "path": "m/model.onnx"} in volume["configMap"][
            "items"]
        for container in pod["containers"]:
            assert not any("subPath" in m for m in container["volumeMounts"])
    assert "/config/m/model.onnx" in docs["ray-cluster.yaml"]["file_mounts"]


def test_ship_model_false_leaves_the_model_to_the_image(
    write_pipeline: Callable[..., Path],
) -> None:
    docs, rendered = render(write_pipeline(with_model=False), ship_model=False)
    assert "binaryData" not in docs["configmap.yaml"]
    assert list(docs["ray-cluster.yaml"]["file_mounts"]) == ["/config/pipeline.yaml"]
    assert any("/models/model.onnx" in w and "ship_model" in w for w in rendered.warnings)
    with pytest.raises(ConfigError, match="inside the ConfigMap mount"):
        render(write_pipeline(with_model=False, model={"path": "model.onnx"}), ship_model=False)


def test_a_missing_model_says_how_to_get_it(write_pipeline: Callable[..., Path]) -> None:
    with pytest.raises(ConfigError, match=r"does not exist .*streaminfer build-models"):
        render(write_pipeline(with_model=False))


def test_a_model_too_large_for_a_configmap_is_refused(write_pipeline: Callable[..., Path]) -> None:
    path = write_pipeline()
    (path.parent.parent / "models" / "model.onnx").write_bytes(b"\0" * 800_000)
    with pytest.raises(ConfigError, match=r"too large for a ConfigMap.*ship_model: false"):
        render(path)


def test_the_model_sha256_is_checked(write_pipeline: Callable[..., Path]) -> None:
    path = write_pipeline(model={"sha256": "0" * 64})
    with pytest.raises(ConfigError, match=r"model\.sha256 does not match"):
        render(path)
    model = (path.parent.parent / "models" / "model.onnx").read_bytes()
    good = write_pipeline(model={"sha256": hashlib.sha256(model).hexdigest()})
    render(good)




def two_models(write_pipeline: Callable[..., Path], **first: Any) -> Path:
    return write_pipeline(
        models=[{"name": "a", "path": "../models/a.onnx", **first},
                {"name": "b", "path": "b/b.onnx"},
                {"name": "a2", "path": "../models/a.onnx"}],  # the same file as "a"
        routing={"weights": {"a": 1, "b": 1, "a2": 1}})


def test_every_model_ships_once_where_the_yaml_points(
    write_pipeline: Callable[..., Path],
) -> None:
    path = two_models(write_pipeline)
    a = (path.parent.parent / "models" / "a.onnx").read_bytes()
    b = (path.parent / "b" / "b.onnx").read_bytes()
    docs, _ = render(path)
    data = docs["configmap.yaml"]["binaryData"]
    assert {k: base64.b64decode(v) for k, v in data.items()} == {
        "model-a.onnx": a, "model-b.onnx": b}
    for pod in pod_specs(docs["raycluster.yaml"]):
        volume = next(v for v in pod["volumes"] if v["name"] == "pipeline")
        assert volume["configMap"]["items"] == [
            {"key": "pipeline.yaml", "path": "pipeline.yaml"},
            {"key": "model-a.onnx", "path": "model-a.onnx"},
            {"key": "model-b.onnx", "path": "b/b.onnx"}]
        [container] = pod["containers"]
        sub = [(m["mountPath"], m["subPath"]) for m in container["volumeMounts"] if "subPath" in m]
        assert sub == [("/models/a.onnx", "model-a.onnx")]
    files = docs["ray-cluster.yaml"]["file_mounts"]
    assert files["/models/a.onnx"] == str(path.parent.parent / "models" / "a.onnx")
    assert files["/config/b/b.onnx"] == str(path.parent / "b" / "b.onnx")
    assert len(files) == 3


def test_every_model_sha256_is_checked(write_pipeline: Callable[..., Path]) -> None:
    with pytest.raises(ConfigError, match=r"models\[0\]\.sha256 does not match .*a\.onnx"):
        render(two_models(write_pipeline, sha256="0" * 64))
    path = two_models(write_pipeline)
    good = hashlib.sha256((path.parent.parent / "models" / "a.onnx").read_bytes()).hexdigest()
    render(two_models(write_pipeline, sha256=good))


def test_a_missing_second_model_names_its_field(write_pipeline: Callable[..., Path]) -> None:
    path = two_models(write_pipeline)
    (path.parent / "b" / "b.onnx").unlink()
    with pytest.raises(ConfigError, match=r"models\[1\]\.path: .*b\.onnx does not exist"):
        render(path)


def test_the_size_limit_applies_to_all_models_together(
    write_pipeline: Callable[..., Path],
) -> None:
    path = two_models(write_pipeline)
    (path.parent.parent / "models" / "a.onnx").write_bytes(b"\0" * 400_000)
    render(path)  # 400 kB + the small b.onnx: fits
    (path.parent / "b" / "b.onnx").write_bytes(b"\0" * 400_000)
    with pytest.raises(ConfigError, match=r"too large for a ConfigMap together: .*a\.onnx "
                       r"\(400,000 bytes\), .*b\.onnx \(400,000 bytes\).*ship_model: false"):
        render(path)


def test_ship_model_false_names_every_model_place(write_pipeline: Callable[..., Path]) -> None:
    path = write_pipeline(
        with_model=False, models=[{"name": "a", "path": "/m/a.onnx"},
                                  {"name": "b", "path": "../models/b.onnx"}],
        routing={"weights": {"a": 1, "b": 1}})
    docs, rendered = render(path, ship_model=False)
    assert "binaryData" not in docs["configmap.yaml"]
    assert any("at /m/a.onnx, /models/b.onnx" in w for w in rendered.warnings)
    inside = write_pipeline(
        with_model=False, models=[{"name": "a", "path": "/m/a.onnx"},
                                  {"name": "b", "path": "b.onnx"}],
        routing={"weights": {"a": 1, "b": 1}})
    with pytest.raises(ConfigError, match=r"models\[1\]\.path is /config/b\.onnx .* inside the "
                       "ConfigMap mount"):
        render(inside, ship_model=False)
