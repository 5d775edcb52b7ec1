"""Fixtures shared by the pipeline test folders: a model registry of the test's own, and
models trained for it."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from streaminfer.pipelines.lifecycle.registry import Registry
from streaminfer.pipelines.lifecycle.trainers import train
from streaminfer.pipelines.spec.training_spec import EstimatorSpec

LR = EstimatorSpec(class_path="sklearn.linear_model.LogisticRegression",
                   params={"max_iter": 1000}, standardize=True)


@pytest.fixture(scope="session")
def empty_registry_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLflow SQLite store with every migration applied and nothing registered, made
    once per session: creating one runs MLflow's ~50 schema migrations (2-10 s here)."""
    database = tmp_path_factory.mktemp("registry-template") / "mlflow.db"
    made = Registry(f"sqlite:///{database}", cache_dir=database.parent / "cache")
    assert made.client is not None  # the client makes the tables; no experiment of ours yet
    return database


@pytest.fixture
def registry(tmp_path: Path, empty_registry_db: Path) -> Registry:
    """A registry of its own: a SQLite store (a copy of the empty, migrated one) and an
    artifact folder under tmp_path."""
    database = tmp_path / "registry" / "mlflow.db"
    database.parent.mkdir(parents=True)
    shutil.copyfile(empty_registry_db, database)
    return Registry(f"sqlite:///{database}", cache_dir=tmp_path / "model-cache")


@pytest.fixture
def train_onnx(tmp_path: Path) -> Callable[[np.ndarray, np.ndarray, str], Path]:
    """``train_onnx(X, y, name)`` -> an ONNX file of a scaled logistic regression."""

    def make(X: np.ndarray, y: np.ndarray, name: str) -> Path:
        path = tmp_path / f"{name}.onnx"
        path.write_bytes(train(LR, X, y, seed=0).onnx)
        return path

    return make
