"""Rendering a pipeline whose model is a registry version (models:/...): nothing ships, the
pods resolve it from the registry at start, the tracking URI reaches them from the YAML or a
Secret (never written into a file), and a registry only this machine reaches is refused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from streaminfer.cluster.bundle import load_bundle
from streaminfer.cluster.submit import plan_job
from streaminfer.errors import ConfigError
from tests.fixtures.rendering import containers, pod_specs, render

REF = {"path": "models:/bc@champion"}
SERVER = {"tracking_uri": "http://mlflow.ml.svc:5000"}
URI_SECRET = "https://user:s3cr3t-Value-that-must-never-leak-7f3a@mlflow.example.com"


@pytest.fixture(autouse=True)
def no_tracking_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container.get("env", [])}


def test_a_registry_model_ships_nothing_and_the_pods_use_the_yamls_tracking_uri(
    write_pipeline: Callable[..., Path],
) -> None:
    docs, rendered = render(write_pipeline(with_model=False, model=REF, registry=SERVER))
    assert "binaryData" not in docs["configmap.yaml"]
    assert "models:/bc@champion" in docs["configmap.yaml"]["data"]["pipeline.yaml"]
    assert list(docs["ray-cluster.yaml"]["file_mounts"]) == ["/config/pipeline.yaml"]
    for pod in pod_specs(docs["raycluster.yaml"]):
        [volume] = [v for v in pod["volumes"] if v["name"] == "pipeline"]
        assert volume["configMap"]["items"] == [{"key": "pipeline.yaml",
                                                 "path": "pipeline.yaml"}]
    for container in containers(docs["raycluster.yaml"]):
        assert not any("subPath" in m for m in container["volumeMounts"])
        env = _env(container)
        assert "MLFLOW_TRACKING_URI" not in env  # the YAML names it
        assert env["MLFLOW_TRACKING_PASSWORD"] == {
            "name": "mlflow-credentials", "key": "MLFLOW_TRACKING_PASSWORD", "optional": True}
    [note] = [w for w in rendered.warnings if "models:/bc@champion" in w]
    assert "resolved from the model registry" in note and "registry.tracking_uri" in note
    assert not any("ship_model" in w for w in rendered.warnings)


def test_a_tracking_uri_from_the_environment_reaches_the_pods_from_a_secret_only(
    write_pipeline: Callable[..., Path], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", URI_SECRET)
    docs, rendered = render(write_pipeline(with_model=False, model=REF),
                            registry_secret_name="team-mlflow")
    for container in containers(docs["raycluster.yaml"]):
        assert _env(container)["MLFLOW_TRACKING_URI"] == {"name": "team-mlflow",
                                                          "key": "MLFLOW_TRACKING_URI"}
    everything = "\n".join([*rendered.files.values(), *rendered.warnings])
    assert "s3cr3t" not in everything and "mlflow.example.com" not in everything
    assert any("create the Secret team-mlflow with the key MLFLOW_TRACKING_URI" in w
               for w in rendered.warnings)


@pytest.mark.parametrize(("registry", "env", "says"), [
    (None, None, "the default tracking URI sqlite:///mlflow.db is a SQLite file"),
    ({"tracking_uri": "sqlite:////data/mlflow.db"}, None, "(sqlite:////data/mlflow.db) is a "
     "SQLite file"),
    ({"tracking_uri": "http://localhost:5000"}, None, "a server on this machine (localhost)"),
    (None, "file:///home/me/mlruns", "MLFLOW_TRACKING_URI (not shown) is a folder"),
])
def test_a_registry_only_this_machine_reaches_is_refused_in_one_line(
    write_pipeline: Callable[..., Path], monkeypatch: pytest.MonkeyPatch,
    registry: dict[str, str] | None, env: str | None, says: str,
) -> None:
    if env is not None:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", env)
    extra = {"registry": registry} if registry else {}
    with pytest.raises(ConfigError) as error:
        render(write_pipeline(with_model=False, model=REF, **extra))
    message = str(error.value)
    assert "\n" not in message and says in message
    assert "model: models:/bc@champion" in message and "set registry.tracking_uri" in message
    if env is not None:
        assert env not in message


def test_a_file_model_beside_a_registry_model_still_ships(
    write_pipeline: Callable[..., Path],
) -> None:
    path = write_pipeline(models=[{"name": "a", "path": "../models/a.onnx"},
                                  {"name": "bc", **REF}],
                          routing={"weights": {"a": 1, "bc": 1}}, registry=SERVER)
    docs, _ = render(path)
    assert list(docs["configmap.yaml"]["binaryData"]) == ["model-a.onnx"]
    assert sorted(docs["ray-cluster.yaml"]["file_mounts"]) == ["/config/pipeline.yaml",
                                                               "/models/a.onnx"]


def test_a_submitted_job_ships_no_registry_model_and_says_where_the_uri_comes_from(
    write_pipeline: Callable[..., Path], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", URI_SECRET)
    job = plan_job(load_bundle(write_pipeline(with_model=False, model=REF)))
    assert list(job.files) == ["pipeline.yaml"]
    assert any("set MLFLOW_TRACKING_URI in the environment" in n for n in job.warnings)
    assert "s3cr3t" not in "\n".join(job.warnings)
