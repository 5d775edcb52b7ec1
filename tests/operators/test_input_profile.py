"""Profiles of models fed by ``model.inputs``: category frequencies (top categories and
"other") for string inputs, numeric bins for numbers, nothing for free text or token ids
(prediction drift only); PSI over category shares; counts read from a feed by input name."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from streaminfer.operators.drift import PREDICTION, DriftTally, count_batch, psi, psi_all
from streaminfer.operators.input_profile import (
    build_input_profile,
    is_category,
    top_category_bins,
)
from streaminfer.operators.profile import Profile
from streaminfer.pipelines.spec.drift_spec import DriftSpec

ALERT = DriftSpec().feature_threshold
COUNTRIES = np.array(["US", "GB", "FR", "DE", "ES", "BR", "NG", "IN"], dtype=object)
USUAL = np.full(8, 1 / 8)


def column(values: list[str] | np.ndarray) -> np.ndarray:
    """A string input's tensor [n, 1], as the feed builder makes it."""
    array = np.empty((len(values), 1), dtype=object)
    array[:, 0] = list(values)
    return array


def test_category_shares_and_their_psi_by_hand() -> None:
    training = ["FR"] * 50 + ["DE"] * 30 + ["US"] * 15 + ["IT"] * 5
    bins = top_category_bins("country", training, top=2)
    assert bins.categories == ("FR", "DE")
    assert bins.expected == pytest.approx([0.5, 0.3, 0.2])  # the last: every other value
    live = ["FR"] * 20 + ["DE"] * 30 + ["US"] * 40 + ["ES"] * 10
    counts = bins.counts(np.asarray(live, dtype=object))
    assert counts.tolist() == [20, 30, 50]
    by_hand = ((0.2 - 0.5) * math.log(0.2 / 0.5) + (0.3 - 0.3) * math.log(1.0)
               + (0.5 - 0.2) * math.log(0.5 / 0.2))
    assert psi(bins.expected, counts) == pytest.approx(by_hand, rel=1e-9)


def test_a_shifted_category_mix_crosses_the_alert_threshold_and_the_same_mix_does_not(
) -> None:
    rng = np.random.default_rng(5)
    training = {"country": column(rng.choice(COUNTRIES, 8_000, p=USUAL))}
    profile = build_input_profile(training, {"label": rng.integers(0, 2, 8_000)})
    same = column(rng.choice(COUNTRIES, 3_000, p=USUAL))
    shifted_p = np.array([0.04, 0.04, 0.04, 0.04, 0.04, 0.1, 0.35, 0.35])
    shifted = column(rng.choice(COUNTRIES, 3_000, p=shifted_p))
    outputs = [{"label": 0}] * 3_000

    calm = psi_all(profile, count_batch(profile, {"country": same}, outputs))
    moved = psi_all(profile, count_batch(profile, {"country": shifted}, outputs))
    assert calm["country"] < 0.05 < ALERT < moved["country"], (calm, moved)


def test_numbers_are_binned_free_text_and_token_ids_only_drift_in_the_prediction() -> None:
    rng = np.random.default_rng(1)
    n = 1_000
    feed = {"text": column([f"my order {i} never came" for i in range(n)]),
            "amount": rng.lognormal(3, 1, (n, 1)).astype(np.float32),
            "input_ids": rng.integers(0, 500, (n, 12)),
            "channel": column(rng.choice(np.array(["pos", "online"], dtype=object), n))}
    labels = rng.integers(0, 4, n)
    profile = build_input_profile(feed, {"label": labels})
    assert [(b.name, b.kind) for b in profile.features] == [
        ("amount", "numeric"), ("channel", "categorical")]
    assert profile.extra == {"feed": "inputs", "free_text": ["text"],
                             "several_values": ["input_ids"]}
    assert profile.prediction is not None and profile.prediction.kind == "categorical"
    assert profile.prediction.expected[:4] == pytest.approx(
        np.bincount(labels, minlength=4) / n)
    # Live traffic of one class only: the prediction drifts, nothing else is asked.
    live = {**feed, "amount": feed["amount"][:300], "channel": feed["channel"][:300],
            "text": feed["text"][:300], "input_ids": feed["input_ids"][:300]}
    drift = psi_all(profile, count_batch(profile, live, [{"label": 3}] * 300))
    assert set(drift) == {"amount", "channel", PREDICTION}
    assert drift[PREDICTION] > ALERT and drift["amount"] < ALERT


def test_what_is_a_category() -> None:
    assert is_category(["FR", "DE", "US"] * 100)
    # 25 equally common values: the top 20 cover 80%, just enough.
    assert is_category([f"c{i}" for i in range(25)] * 4)
    assert not is_category([f"c{i}" for i in range(26)] * 4)
    assert not is_category([])


def test_the_profile_round_trips_and_a_worker_tally_counts_feeds(tmp_path: Path) -> None:
    feed = {"country": column(["FR", "DE", "FR", "US"] * 50),
            "amount": np.arange(200, dtype=np.float32).reshape(200, 1)}
    profile = build_input_profile(feed, {"label": np.array([0, 1] * 100)})
    again = Profile.read(profile.write(tmp_path / "m.onnx.profile.json"))
    assert again == profile
    tally = DriftTally({"m": again})
    tally.add("m", "1", {name: a[:10] for name, a in feed.items()}, [{"label": 0}] * 10)
    tally.add("m", "1", {name: a[:0] for name, a in feed.items()}, [])
    counts = tally.snapshot()[("m", "1")]
    assert counts.rows == 10 and int(counts.features[0].sum()) == 10
    assert tally.failed == {}
