"""PSI by hand, counts of batches, the crossing detector and the sliding window."""

from __future__ import annotations

import math

import numpy as np
import pytest

from streaminfer.operators.drift import (
    BinCounts,
    Crossing,
    DriftTally,
    SlidingCounts,
    count_batch,
    delta,
    psi,
    psi_all,
)
from streaminfer.operators.profile import Profile, build_profile


def test_psi_by_hand() -> None:
    # (0.3-0.25)ln(0.3/0.25) + (0.2-0.25)ln(0.2/0.25) + (0.25-0.25)*0 + (0.25-0.25)*0
    expected = 0.05 * math.log(1.2) + (-0.05) * math.log(0.8)
    assert psi([0.25] * 4, np.array([30, 20, 25, 25])) == pytest.approx(expected)
    assert psi([0.5, 0.5], np.array([7, 7])) == 0.0


def test_psi_clips_empty_bins_with_epsilon() -> None:
    value = psi([0.5, 0.5], np.array([10, 0]), eps=1e-4)
    by_hand = (1 - 0.5) * math.log(1 / 0.5) + (1e-4 - 0.5) * math.log(1e-4 / 0.5)
    assert value == pytest.approx(by_hand)
    assert math.isnan(psi([0.5, 0.5], np.array([0, 0])))


def test_crossing_fires_once_and_rearms_below_the_line() -> None:
    c = Crossing(threshold=0.2, rearm_below=0.5)
    fired = [c.update(v) for v in (0.1, 0.25, 0.3, 0.19, 0.25, 0.09, 0.21, math.nan, 0.5)]
    assert fired == [False, True, False, False, False, False, True, False, False]


def _profile() -> tuple[Profile, np.ndarray]:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(2000, 2))
    return build_profile(["a", "b"], X, {"label": (X[:, 0] > 0).astype(np.int64)}), X


def test_counts_of_a_batch_and_psi_of_a_shift() -> None:
    profile, X = _profile()
    outputs = [{"label": int(v > 0)} for v in X[:, 0]]
    same = count_batch(profile, X, outputs)
    assert same.rows == 2000 and [c.sum() for c in same.features] == [2000, 2000]
    assert max(psi_all(profile, same).values()) < 1e-9
    shifted = X + np.array([3.0, 0.0])
    out2 = [{"label": int(v > 0)} for v in shifted[:, 0]]
    values = psi_all(profile, count_batch(profile, shifted, out2))
    assert values["a"] > 1.0 and values["b"] < 1e-9 and values["prediction"] > 0.5


def test_delta_of_cumulative_counts_and_a_restart() -> None:
    a = BinCounts(3, [np.array([1, 2])], np.array([3]))
    b = BinCounts(5, [np.array([2, 3])], np.array([5]))
    d = delta(b, a)
    assert d.rows == 2 and d.features[0].tolist() == [1, 1] and d.prediction is not None
    restarted = BinCounts(1, [np.array([1, 0])], np.array([1]))
    assert delta(restarted, b).rows == 1


def test_tally_and_sliding_window() -> None:
    profile, X = _profile()
    tally = DriftTally({"m": profile})
    tally.add("m", "v1", X[:10], [{"label": 0}] * 10)
    tally.add("m", "v1", X[10:30], [{"label": 1}] * 20)
    tally.add("other", "v1", X[:5], [{"label": 0}] * 5)  # no profile: skipped
    snap = tally.snapshot()
    assert list(snap) == [("m", "v1")] and snap[("m", "v1")].rows == 30
    window = SlidingCounts(window_s=10)
    window.add(100.2, BinCounts(1, [np.array([1, 0])]))
    window.add(100.7, BinCounts(2, [np.array([0, 2])]))
    window.add(105.0, BinCounts(4, [np.array([4, 0])]))
    total = window.total(109.5)
    assert total is not None and total.rows == 7 and total.features[0].tolist() == [5, 2]
    later = window.total(111.5)
    assert later is not None and later.rows == 4
    assert window.total(200.0) is None


def test_running_total_equals_the_sum_of_the_buckets_in_the_window() -> None:
    rng = np.random.default_rng(8)
    window = SlidingCounts(window_s=5)
    added: list[tuple[float, BinCounts]] = []
    now = 0.0
    for _ in range(200):
        now += float(rng.uniform(0, 0.7))
        counts = BinCounts(3, [rng.integers(0, 5, size=4)], rng.integers(0, 5, size=2))
        window.add(now, counts)
        added.append((now, counts))
        total = window.total(now)
        inside = [c for t, c in added if np.floor(t) + 1 > now - 5]
        assert total is not None and total.rows == 3 * len(inside)
        assert total.features[0].tolist() == np.sum([c.features[0] for c in inside],
                                                    axis=0).tolist()


def test_a_renamed_output_is_counted_under_its_published_field() -> None:
    profile, X = _profile()
    renamed = profile.published({"label": "digit"})
    outputs = [{"digit": int(v > 0)} for v in X[:, 0]]
    counts = count_batch(renamed, X, outputs)
    assert counts.prediction is not None and counts.prediction.sum() == 2000
    assert psi_all(renamed, counts)["prediction"] < 1e-9


def test_a_batch_that_cannot_be_counted_is_skipped_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    profile, X = _profile()
    tally = DriftTally({"m": profile})
    for _ in range(3):  # outputs under a name the profile does not read
        tally.add("m", "v1", X[:10], [{"digit": 0}] * 10)
    tally.add("m", "v1", X[:10], [{"label": 0}] * 10)
    assert tally.failed == {("m", "v1"): 3}
    assert tally.snapshot()[("m", "v1")].rows == 10
    warned = [r for r in caplog.records if "cannot be counted" in r.getMessage()]
    assert len(warned) == 1 and warned[0].levelname == "WARNING"
    assert "KeyError" in warned[0].getMessage()
