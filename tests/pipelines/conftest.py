"""Fixtures shared by the pipeline test folders: a model registry of the test's own, and
models trained for it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from streaminfer.pipelines.spec.training_spec import EstimatorSpec
from streaminfer.pipelines.training.registry import Registry
from streaminfer.pipelines.training.trainers import train

LR = EstimatorSpec(class_path="sklearn.linear_model.LogisticRegression",
                   params={"max_iter": 1000}, standardize=True)


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    """A registry of its own: a SQLite store and an artifact folder under tmp_path."""
    return Registry(f"sqlite:///{tmp_path / 'registry' / 'mlflow.db'}",
                    cache_dir=tmp_path / "model-cache")


@pytest.fixture
def train_onnx(tmp_path: Path) -> Callable[[np.ndarray, np.ndarray, str], Path]:
    """``train_onnx(X, y, name)`` -> an ONNX file of a scaled logistic regression."""

    def make(X: np.ndarray, y: np.ndarray, name: str) -> Path:
        path = tmp_path / f"{name}.onnx"
        path.write_bytes(train(LR, X, y, seed=0).onnx)
        return path

    return make
