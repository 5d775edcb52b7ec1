"""Drift across a hot swap (pure): the version swapped in is binned and judged against its
own profile, in a window of its own, and its alerts name it."""

from __future__ import annotations

import numpy as np

from streaminfer.operators.drift import DriftTally
from streaminfer.operators.profile import Profile, build_profile
from streaminfer.pipelines.online.drift_watch import DriftWatch
from streaminfer.pipelines.runtime.worker_metrics import WorkerStats
from streaminfer.pipelines.spec.drift_spec import DriftSpec

SHIFT = np.array([3.0, 0.0])


def _profile(X: np.ndarray) -> Profile:
    return build_profile(["a", "b"], X, {"variable": X.sum(axis=1)})


def _second(watch: DriftWatch, tally: DriftTally, version: str, t: float,
            rows: np.ndarray) -> list[dict[str, object]]:
    tally.add("m", version, rows, [{"variable": float(v)} for v in rows.sum(axis=1)])
    stats = WorkerStats("w0", 1)
    stats.drift = tally.snapshot()
    watch.observe({"w0": stats}, t)
    return watch.evaluate(t, int(t * 1000))


def test_a_swapped_in_version_is_judged_against_its_own_profile() -> None:
    rng = np.random.default_rng(7)
    v1 = _profile(rng.normal(size=(5000, 2)))
    v2 = _profile(rng.normal(size=(5000, 2)) + SHIFT)  # trained on the shifted data
    spec = DriftSpec(window_s=100, min_events=200, feature_threshold=0.2,
                     prediction_threshold=0.2)
    watch, tally = DriftWatch(spec, {"m": v1}), DriftTally({"m": v1})
    fired = []
    for t in range(5):  # the stream has shifted: v1 alerts
        fired += _second(watch, tally, "1", float(t), rng.normal(size=(300, 2)) + SHIFT)
    assert {(a["version"], a["metric"]) for a in fired} == {("1", "psi:a"),
                                                             ("1", "psi:prediction")}
    watch.use(("m", "2"), v2)  # the driver, before the workers swap
    tally.use("m", v2)  # each worker, at the batch boundary of its swap
    fired = []
    for t in range(5, 10):
        fired += _second(watch, tally, "2", float(t), rng.normal(size=(300, 2)) + SHIFT)
    assert fired == []
    state = watch.states[("m", "2")]
    assert state.rows == 1500 and state.drifted == [] and max(state.psi.values()) < 0.2
    assert watch.states[("m", "1")].alerts == 2  # v1's own record stays as it was


def test_swapping_back_starts_the_versions_window_and_crossings_afresh() -> None:
    rng = np.random.default_rng(8)
    v1 = _profile(rng.normal(size=(5000, 2)))
    spec = DriftSpec(window_s=100, min_events=200, feature_threshold=0.2,
                     prediction_threshold=5.0)
    watch, tally = DriftWatch(spec, {"m": v1}), DriftTally({"m": v1})
    fired = []
    for t in range(3):
        fired += _second(watch, tally, "1", float(t), rng.normal(size=(300, 2)) + SHIFT)
    assert [a["metric"] for a in fired] == ["psi:a"]
    watch.use(("m", "1"), v1)  # rolled back to v1 (after a while on v2)
    assert ("m", "1") not in watch.states
    fired = _second(watch, tally, "1", 3.0, rng.normal(size=(300, 2)) + SHIFT)
    assert [a["metric"] for a in fired] == ["psi:a"]  # alerts again, in its new window
    assert watch.states[("m", "1")].rows == 300


def test_a_version_without_a_profile_is_not_counted_or_judged() -> None:
    rng = np.random.default_rng(9)
    v1 = _profile(rng.normal(size=(1000, 2)))
    watch, tally = DriftWatch(DriftSpec(min_events=10), {"m": v1}), DriftTally({"m": v1})
    watch.use(("m", "2"), None)
    tally.use("m", None)
    assert _second(watch, tally, "2", 0.0, rng.normal(size=(300, 2)) + SHIFT) == []
    assert ("m", "2") not in watch.states and tally.snapshot() == {}
