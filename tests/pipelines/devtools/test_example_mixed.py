"""The mixed fraud example: seeded transactions with string categoricals beside numbers, and
a model with one ONNX input per column that separates the classes on rows it was not
trained on (fed here straight to ONNX Runtime, not through streaminfer's feed)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort

from streaminfer.operators.profile import profile_path
from streaminfer.pipelines.devtools.example_models import (
    FRAUD_CATEGORICALS,
    FRAUD_NUMBERS,
    fraud_mixed_transactions,
)


def test_the_transactions_are_seeded_strings_and_numbers() -> None:
    one, again = fraud_mixed_transactions(500, seed=3), fraud_mixed_transactions(500, seed=3)
    assert (one.X == again.X).all() and (one.y == again.y).all()
    assert one.features == [*FRAUD_CATEGORICALS, *FRAUD_NUMBERS]
    for i, (name, values) in enumerate(FRAUD_CATEGORICALS.items()):
        assert set(one.X[:, i]) <= set(values), name
    hours = one.X[:, one.features.index("hour")].astype(float)
    assert hours.min() >= 0 and hours.max() <= 23


def test_the_model_takes_one_input_per_column_and_separates_unseen_rows(
    model_factory: Callable[[str], Path],
) -> None:
    path = model_factory("fraud_mixed")
    assert not profile_path(path).exists()  # drift profiles bin numbers only
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    kinds = {i.name: i.type for i in session.get_inputs()}
    assert kinds == {**{n: "tensor(string)" for n in FRAUD_CATEGORICALS},
                     **{n: "tensor(float)" for n in FRAUD_NUMBERS}}
    data = fraud_mixed_transactions(3_000, seed=123)
    feed = {name: (data.X[:, [i]].astype(object) if name in FRAUD_CATEGORICALS
                   else data.X[:, [i]].astype(np.float32))
            for i, name in enumerate(data.features)}
    _, probabilities = session.run(["label", "probabilities"], feed)
    fraud, legit = probabilities[data.y == 1, 1], probabilities[data.y == 0, 1]
    # the share of (fraud, legit) pairs ranked right: ROC AUC, computed here
    auc = (fraud[:, None] > legit[None, :]).mean()
    assert auc > 0.9
