"""The fraud example: synthetic transactions in their real units, a model that takes raw
events (the scaler is inside the ONNX file), and a training profile that live traffic from
the same generator matches."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from streaminfer.operators.drift import PREDICTION, count_batch, psi_all
from streaminfer.operators.model_runner import OnnxModel
from streaminfer.operators.profile import Profile, profile_path
from streaminfer.pipelines.devtools.example_models import (
    FRAUD_FEATURES,
    FRAUD_RATE,
    fraud,
    fraud_transactions,
)

#: A weekday lunch near home on an old card, and the README's curl example (3 a.m., far
#: away, abroad, a new card, ten times the usual spend, six transactions in the last hour).
LEGIT = {"amount": 38.5, "hour": 13, "merchant_risk": 0.15, "card_age_days": 900,
         "distance_km": 6.0, "txn_last_hour": 0, "avg_amount_30d": 45.0, "foreign": 0}
FRAUD = {"amount": 420.0, "hour": 3, "merchant_risk": 0.9, "card_age_days": 12,
         "distance_km": 800.0, "txn_last_hour": 6, "avg_amount_30d": 35.0, "foreign": 1}


def column(name: str, X: np.ndarray) -> np.ndarray:
    return X[:, FRAUD_FEATURES.index(name)]


def test_transactions_are_in_their_real_units_and_seeded() -> None:
    data = fraud()
    X = data.X
    assert FRAUD_RATE / 2 < data.y.mean() < FRAUD_RATE * 2
    amount = column("amount", X)
    assert amount.min() > 0 and np.percentile(amount, 99) > 5 * np.median(amount)  # long tail
    assert set(np.unique(column("hour", X))) <= set(range(24))
    assert set(np.unique(column("foreign", X))) == {0, 1}
    assert column("merchant_risk", X).min() >= 0 and column("merchant_risk", X).max() <= 1
    for name in ("card_age_days", "txn_last_hour"):
        values = column(name, X)
        assert values.min() >= 0 and np.array_equal(values, np.round(values)), name
    again = fraud_transactions(1000, seed=7)
    assert np.array_equal(again.X, fraud_transactions(1000, seed=7).X)
    assert not np.array_equal(again.X, fraud_transactions(1000, seed=8).X)


@pytest.fixture(scope="module")
def fraud_model(model_factory: Callable[[str], Path]) -> tuple[OnnxModel, Profile]:
    path = model_factory("fraud")
    model = OnnxModel.load(path, name="fraud", providers=["CPUExecutionProvider"])
    return model, Profile.read(profile_path(path))


def p_fraud(model: OnnxModel, X: np.ndarray) -> np.ndarray:
    return np.asarray([row["probabilities"][1]
                       for row in model.predict_rows(X.astype(np.float32))])


def test_a_typical_legit_event_scores_low_and_a_typical_fraud_high(
    fraud_model: tuple[OnnxModel, Profile],
) -> None:
    model, _ = fraud_model
    events = np.array([[e[f] for f in FRAUD_FEATURES] for e in (LEGIT, FRAUD)], np.float64)
    legit, fraudulent = p_fraud(model, events)
    assert legit < 0.05 and fraudulent > 0.9, (legit, fraudulent)
    fresh = fraud_transactions(5_000, seed=101)  # rows it was not trained on
    scores = p_fraud(model, fresh.X)
    assert scores[fresh.y == 1].mean() > 0.5 > 0.05 > scores[fresh.y == 0].mean()


def test_the_profile_bins_flags_and_counts_by_value(
    fraud_model: tuple[OnnxModel, Profile],
) -> None:
    _, profile = fraud_model
    bins = {b.name: b for b in profile.features}
    assert bins["foreign"].size == 2
    assert bins["txn_last_hour"].edges == tuple(range(bins["txn_last_hour"].size - 1))
    assert bins["amount"].size == bins["hour"].size == 10


def test_events_from_the_same_generator_do_not_drift_and_shifted_ones_do(
    fraud_model: tuple[OnnxModel, Profile],
) -> None:
    model, profile = fraud_model
    live = fraud_transactions(5_000, seed=202).X

    def psi(X: np.ndarray) -> dict[str, float]:
        return psi_all(profile, count_batch(profile, X, model.predict_rows(
            X.astype(np.float32))))

    same = psi(live)
    assert set(same) == {*FRAUD_FEATURES, PREDICTION}
    assert max(same.values()) < 0.05, same
    shifted = live.copy()
    shifted[:, FRAUD_FEATURES.index("amount")] *= 3
    assert psi(shifted)["amount"] > 0.2
