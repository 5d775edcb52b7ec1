"""Fixtures of the training tests: labelled examples in the contract's shape made from a
shipped dataset, and models trained on them (the ``registry`` fixture, a temporary SQLite
store, lives in tests/pipelines/conftest.py, shared with the batch tests)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import orjson
import pytest

from streaminfer.pipelines.devtools.example_models import Dataset
from streaminfer.pipelines.spec.training_spec import EstimatorSpec
from streaminfer.pipelines.training.trainers import train

LR = EstimatorSpec(class_path="sklearn.linear_model.LogisticRegression",
                   params={"max_iter": 1000}, standardize=True)
T0_MS = 1_764_357_300_000


def labelled_examples(dataset: Dataset, rows: np.ndarray,
                      labels: np.ndarray | None = None) -> list[bytes]:
    """The contract's labelled examples for ``rows`` of ``dataset``, labelled one second
    apart in that order (``labels`` replaces the dataset's)."""
    labels = dataset.y[rows] if labels is None else labels
    values = []
    for i, (row, label) in enumerate(zip(rows, labels, strict=True)):
        predicted_at = T0_MS + 1_000 * i
        values.append(orjson.dumps({
            "id": f"e{row}",
            "features": dict(zip(dataset.features, dataset.X[row].tolist(), strict=True)),
            "label": int(label),
            "outputs": {"label": 0, "probabilities": [0.5, 0.5]},
            "model": "bc", "model_version": "1",
            "predicted_at": predicted_at, "labelled_at": predicted_at + 500,
            "label_delay_ms": 500,
        }))
    return values


@pytest.fixture
def train_onnx(tmp_path: Path) -> Callable[[np.ndarray, np.ndarray, str], Path]:
    """``train_onnx(X, y, name)`` -> an ONNX file of a scaled logistic regression."""

    def make(X: np.ndarray, y: np.ndarray, name: str) -> Path:
        path = tmp_path / f"{name}.onnx"
        path.write_bytes(train(LR, X, y, seed=0).onnx)
        return path

    return make
