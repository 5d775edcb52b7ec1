"""Fixtures of the training tests: labelled examples in the contract's shape made from a
shipped dataset, and models trained on them (``registry`` is in tests/pipelines/conftest.py)."""

from __future__ import annotations

import numpy as np
import orjson

from streaminfer.pipelines.devtools.example_models import Dataset

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
