"""The registry against a real MLflow SQLite store: versions, aliases, sha256, lineage."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from streaminfer.errors import ModelError, RegistryError
from streaminfer.operators.profile import profile_path
from streaminfer.pipelines.devtools.example_models import Dataset
from streaminfer.pipelines.lifecycle.registry import Lineage, Registry, tracking_uri

TrainOnnx = Callable[[np.ndarray, np.ndarray, str], Path]


def test_a_version_holds_model_profile_metrics_range_and_lineage(
    registry: Registry, train_onnx: TrainOnnx, dataset_factory: Callable[[str], Dataset],
    tmp_path: Path,
) -> None:
    data = dataset_factory("breast_cancer")
    onnx = train_onnx(data.X, data.y, "bc")
    profile = tmp_path / "bc.profile.json"
    profile.write_text(json.dumps({"features": data.features}))
    span = {"topic": "training", "partitions": {"0": [0, 300]}}
    first = registry.register_model("bc", onnx, metrics={"roc_auc": 0.99, "r2": math.nan},
                                    lineage=Lineage("import"), tags={"note": "first"})
    second = registry.register_model(
        "bc", onnx, metrics={"roc_auc": 0.995}, lineage=Lineage("retrain", "1", span),
        profile_path=profile)
    assert (first.version, second.version) == ("1", "2")
    assert second.sha256 == hashlib.sha256(onnx.read_bytes()).hexdigest()
    assert second.data_range == span and second.tags["parent_version"] == "1"
    assert second.tags["produced_by"] == "retrain" and first.tags["note"] == "first"
    metrics = registry.metrics(first)
    assert metrics["roc_auc"] == 0.99 and math.isnan(metrics["r2"])

    assert registry.find("bc", "champion") is None and registry.find("nope", "champion") is None
    registry.set_alias("bc", "champion", "1")
    assert registry.find("bc", "champion") == registry.resolve("bc", "1")
    champion = registry.resolve("bc", "champion")
    assert (champion.version, champion.aliases) == ("1", ("champion",))
    assert registry.resolve("bc", "2").sha256 == second.sha256
    assert [(v.version, v.aliases) for v in registry.versions("bc")] == [
        ("2", ()), ("1", ("champion",))]
    assert registry.names() == ["bc"]

    local = registry.fetch(registry.resolve("bc", "2"))
    assert local.read_bytes() == onnx.read_bytes()
    assert json.loads(profile_path(local).read_text()) == {
        "features": data.features}


def test_a_changed_artifact_is_refused(
    registry: Registry, train_onnx: TrainOnnx, dataset_factory: Callable[[str], Dataset],
) -> None:
    data = dataset_factory("breast_cancer")
    version = registry.register_model("bc", train_onnx(data.X, data.y, "bc"), metrics={},
                                      lineage=Lineage("import"))
    stored = Path(version.source.removeprefix("file://")) / "model.onnx"
    stored.write_bytes(stored.read_bytes() + b"\0")
    with pytest.raises(ModelError, match=r"models:/bc/1: the stored model.onnx has sha256 "
                       r"[0-9a-f]{64}, but the registry recorded " + version.sha256):
        registry.fetch(version)


def test_promote_refuses_a_rejected_version_unless_forced(
    registry: Registry, train_onnx: TrainOnnx, dataset_factory: Callable[[str], Dataset],
) -> None:
    data = dataset_factory("breast_cancer")
    onnx = train_onnx(data.X, data.y, "bc")
    registry.register_model("bc", onnx, metrics={}, lineage=Lineage("import"))
    registry.register_model("bc", onnx, metrics={}, lineage=Lineage("retrain", "1"),
                            tags={"gate": "rejected", "gate_reason": "roc_auc fell"})
    registry.promote("bc", "1")
    with pytest.raises(RegistryError, match=r"rejected by the gate \(roc_auc fell\)"):
        registry.promote("bc", "2")
    assert registry.aliases("bc") == {"champion": "1"}
    registry.promote("bc", "2", force=True)
    assert registry.aliases("bc") == {"champion": "2", "previous": "1"}
    registry.rollback("bc")
    assert registry.aliases("bc") == {"champion": "1"}


def test_unknown_models_and_aliases_are_one_line(registry: Registry) -> None:
    with pytest.raises(RegistryError, match=r"^models:/nope@champion: .*\(registry sqlite"):
        registry.resolve("nope", "champion")
    with pytest.raises(RegistryError, match=r"^models:/nope/3: "):
        registry.resolve("nope", "3")


def test_the_tracking_uri_comes_from_the_yaml_then_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking_uri(None) == "sqlite:///mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000")
    assert tracking_uri(None) == "http://mlflow:5000"
    assert tracking_uri("sqlite:////srv/m.db") == "sqlite:////srv/m.db"
