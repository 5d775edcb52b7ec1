"""The driver's drift decisions on plain worker readings: one alert per crossing."""

from __future__ import annotations

import numpy as np

from streaminfer.operators.drift import DriftTally
from streaminfer.operators.profile import build_profile
from streaminfer.pipelines.online.drift_watch import DriftWatch
from streaminfer.pipelines.runtime.worker_metrics import WorkerStats
from streaminfer.pipelines.spec.drift_spec import DriftSpec

SHIFT_B = np.array([0.0, 3.0, 0.0])


def test_one_alert_per_drifted_feature_then_rearm() -> None:
    rng = np.random.default_rng(5)
    X = rng.normal(size=(5000, 3))
    profile = build_profile(["a", "b", "c"], X, {"variable": X.sum(axis=1)})
    spec = DriftSpec(window_s=10, min_events=200, feature_threshold=0.2,
                     prediction_threshold=5.0)
    watch = DriftWatch(spec, {"m": profile})
    tally = DriftTally({"m": profile})

    def second(t: float, rows: np.ndarray) -> list[dict[str, object]]:
        tally.add("m", "v1", rows, [{"variable": float(v)} for v in rows.sum(axis=1)])
        stats = WorkerStats("w0", 1)
        stats.drift = tally.snapshot()
        watch.observe({"w0": stats}, t)
        return watch.evaluate(t, int(t * 1000))

    fired = []
    for t in range(10):  # unshifted
        fired += second(float(t), rng.normal(size=(300, 3)))
    assert fired == []
    for t in range(10, 30):  # feature b shifted by 3 sd
        fired += second(float(t), rng.normal(size=(300, 3)) + SHIFT_B)
    assert [(a["metric"], a["kind"], a["model"], a["version"], a["window"]) for a in fired] \
        == [("psi:b", "drift", "m", "v1", "10s")]
    assert float(fired[0]["value"]) > 0.2 and fired[0]["threshold"] == 0.2  # type: ignore[arg-type]
    state = watch.states[("m", "v1")]
    assert state.drifted == ["b"] and state.alerts == 1
    for t in range(30, 50):  # back to normal: re-armed, nothing fires
        fired += second(float(t), rng.normal(size=(300, 3)))
    for t in range(50, 70):  # shifted again: a second crossing
        fired += second(float(t), rng.normal(size=(300, 3)) + SHIFT_B)
    assert [a["metric"] for a in fired] == ["psi:b", "psi:b"]


def test_too_few_events_are_not_judged() -> None:
    rng = np.random.default_rng(6)
    X = rng.normal(size=(1000, 1))
    profile = build_profile(["a"], X, {"variable": X[:, 0]})
    watch = DriftWatch(DriftSpec(window_s=5, min_events=100), {"m": profile})
    tally = DriftTally({"m": profile})
    rows = X[:50] + 10
    tally.add("m", "v1", rows, [{"variable": float(v)} for v in rows[:, 0]])
    stats = WorkerStats("w0", 1)
    stats.drift = tally.snapshot()
    watch.observe({"w0": stats}, 0.0)
    assert watch.evaluate(0.0, 0) == []
    assert watch.states[("m", "v1")].rows == 50 and watch.states[("m", "v1")].psi == {}
