"""The mixed fraud example: seeded transactions with string categoricals beside numbers, and
a model with one ONNX input per column that separates the classes on rows it was not
trained on (fed here straight to ONNX Runtime, not through streaminfer's feed)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort

from streaminfer.operators.drift import PREDICTION, count_batch, psi_all
from streaminfer.operators.inputs import InputBinding
from streaminfer.operators.model_runner import OnnxModel
from streaminfer.operators.profile import Profile, profile_path
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


def test_its_profile_bins_categories_and_numbers_and_catches_a_shifted_country_mix(
    model_factory: Callable[[str], Path],
) -> None:
    path = model_factory("fraud_mixed")
    profile = Profile.read(profile_path(path))
    kinds = {b.name: b.kind for b in profile.features}
    assert kinds == {**dict.fromkeys(FRAUD_CATEGORICALS, "categorical"),
                     **dict.fromkeys(FRAUD_NUMBERS, "numeric")}
    country = next(b for b in profile.features if b.name == "country")
    assert set(country.categories) == set(FRAUD_CATEGORICALS["country"])
    assert country.expected[-1] == 0.0  # no training row outside the eight countries
    model = OnnxModel(path.read_bytes(), name="fraud-mixed", expected_sha256=profile.model_sha256,
                      inputs={n: InputBinding(field=n) for n in profile.feature_names})
    builder = model.info.feed_builder()
    assert builder is not None
    data = fraud_mixed_transactions(4_000, seed=77)
    events = [dict(zip(data.features, row, strict=True)) for row in data.X.tolist()]

    def drift(rows: list[dict[str, object]]) -> dict[str, float]:
        feed, refused = builder.matrix([builder.values(e) for e in rows])
        assert not refused
        return psi_all(profile, count_batch(profile, feed, model.predict_rows(feed)))

    calm = drift(events)
    assert set(calm) == {*FRAUD_CATEGORICALS, *FRAUD_NUMBERS, PREDICTION}
    assert max(calm.values()) < 0.05, calm
    shifted = [{**e, "country": "NG" if i % 2 else e["country"]} for i, e in enumerate(events)]
    moved = drift(shifted)
    assert moved["country"] > 0.2, moved  # drift.feature_threshold's default
    assert moved["amount"] == calm["amount"] and moved["channel"] == calm["channel"]
