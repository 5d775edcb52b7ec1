"""Fixtures of the cluster tests: pipeline YAMLs in a temporary tree, with model files.

Rendering never loads a model (it only ships its bytes), so these tests write small stand-in
model files instead of training the real ones; the one test that runs a job on a real Ray uses
a real model.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from streaminfer.pipelines.config_io import deep_merge

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted((REPO / "configs").glob("*.yaml"))
FAKE_SECRET = "s3cr3t-Value-that-must-never-leak-7f3a"


def model_paths(data: dict[str, Any]) -> list[str]:
    """The model paths a pipeline mapping declares (``model:`` or each of ``models:``)."""
    models = data["models"] if "models" in data else [data["model"]]
    return [str(m["path"]) for m in models]


def fake_model(path: Path) -> bytes:
    """Write recognisable stand-in bytes for a model file (rendering does not parse them)."""
    data = b"fake-onnx:" + path.name.encode() + bytes(range(256))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


@pytest.fixture
def repo_config(tmp_path: Path) -> Callable[[str], Path]:
    """``repo_config("fraud-scoring")`` -> a copy of configs/<name>.yaml in a temporary tree
    (tmp/configs/...), with a stand-in model where each model path points."""

    def copy(name: str) -> Path:
        source = REPO / "configs" / f"{name}.yaml"
        target = tmp_path / "configs" / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        for declared in model_paths(yaml.safe_load(source.read_text())):
            fake_model((target.parent / declared).resolve())
        return target

    return copy


BASE_PIPELINE: dict[str, Any] = {
    "name": "scorer",
    "kafka": {"bootstrap_servers": "kafka-0.kafka:9092,kafka-1.kafka:9092"},
    "source": {"topics": ["events"], "group_id": "g", "features": ["a", "b"]},
    "model": {"path": "../models/model.onnx"},
    "sink": {"predictions_topic": "preds", "dead_letter_topic": "dlq"},
    "workers": {"count": 3, "num_cpus": 1},
}

SASL = {
    "protocol": "SASL_SSL",
    "sasl_mechanism": "SCRAM-SHA-512",
    "sasl_username_env": "KAFKA_USERNAME",
    "sasl_password_env": "KAFKA_PASSWORD",
}


@pytest.fixture
def fake_secret(monkeypatch: pytest.MonkeyPatch) -> str:
    """A secret value set in the environment under every name the SASL pipelines use."""
    for name in ("KAFKA_USERNAME", "KAFKA_PASSWORD", "KAFKA_KEY_PASSWORD"):
        monkeypatch.setenv(name, FAKE_SECRET)
    return FAKE_SECRET


@pytest.fixture
def sasl() -> dict[str, Any]:
    """A kafka.security block that reads SASL secrets from KAFKA_USERNAME / KAFKA_PASSWORD."""
    return dict(SASL)


@pytest.fixture
def write_pipeline(tmp_path: Path) -> Callable[..., Path]:
    """``write_pipeline(with_model=True, folder="pipelines", **overrides)`` -> a pipeline YAML in
    tmp/<folder>/ (BASE_PIPELINE merged with overrides; ``models=[...]`` replaces its
    ``model``), with a stand-in file for each model."""

    def write(with_model: bool = True, folder: str = "pipelines", **overrides: Any) -> Path:
        data = deep_merge(BASE_PIPELINE, overrides)
        if "models" in overrides:
            del data["model"]
        path = tmp_path / folder / "pipeline.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("# a test pipeline\n" + yaml.safe_dump(data, sort_keys=False))
        for declared in map(Path, model_paths(data)):
            if with_model and not declared.is_absolute():
                fake_model((path.parent / declared).resolve())
        return path

    return write
