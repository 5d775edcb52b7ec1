"""The driver's drift decisions: workers' counts -> sliding windows -> PSI -> alerts.

Pure (no Kafka, no Ray, no clock of its own): :class:`DriftMonitor` feeds it each reading of
the workers and publishes the alerts it returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from streaminfer.operators.alerts import alert
from streaminfer.operators.drift import (
    PREDICTION,
    BinCounts,
    Crossing,
    SlidingCounts,
    delta,
    psi_all,
)
from streaminfer.operators.profile import Profile
from streaminfer.pipelines.runtime.worker_metrics import WorkerStats
from streaminfer.pipelines.spec.drift_spec import DriftSpec

Key = tuple[str, str]  # (model, version)


@dataclass
class DriftState:
    """The latest evaluation of one model version (for the live view and ``status``)."""

    model: str
    version: str
    rows: int = 0
    psi: dict[str, float] = field(default_factory=dict)
    alerts: int = 0
    drifted: list[str] = field(default_factory=list)  # metrics above their threshold now


def metric_name(metric: str) -> str:
    """The alert's ``metric``: ``psi:<feature>`` or ``psi:prediction``."""
    return f"psi:{metric}"


def describe(metric: str, value: float, threshold: float, window_s: float) -> str:
    what = "the prediction" if metric == PREDICTION else f"feature {metric!r}"
    return f"{what} drifted: PSI {value:.3g} > {threshold:g} over {window_s:g}s"


class DriftWatch:
    """Sliding windows of bin counts per (model, version) and one :class:`Crossing` per
    metric; :meth:`evaluate` returns the alerts of new crossings only.

    ``profiles``: by model, the profile of the version it started with; a version a rollout
    swapped in is compared with its own (:meth:`use`).
    """

    def __init__(self, spec: DriftSpec, profiles: Mapping[str, Profile]) -> None:
        self.spec = spec
        self.profiles = dict(profiles)
        self._by_version: dict[Key, Profile | None] = {}
        self._last: dict[tuple[str, Key], BinCounts] = {}
        self._windows: dict[Key, SlidingCounts] = {}
        self._crossings: dict[tuple[Key, str], Crossing] = {}
        self.states: dict[Key, DriftState] = {}

    def profile(self, key: Key) -> Profile | None:
        """The profile a model version's traffic is compared with."""
        if key in self._by_version:
            return self._by_version[key]
        return self.profiles.get(key[0])

    def use(self, key: Key, profile: Profile | None) -> None:
        """Compare version ``key`` with ``profile`` from now on (``None``: not at all), in
        a new window with new crossings: what it alerted on before does not carry over."""
        self._by_version[key] = profile
        self._windows.pop(key, None)
        self.states.pop(key, None)
        for crossing in [c for c in self._crossings if c[0] == key]:
            del self._crossings[crossing]

    def observe(self, answered: Mapping[str, WorkerStats], now: float) -> None:
        """Add what each worker counted since its previous reading to the window."""
        for stats in answered.values():
            for key, counts in stats.drift.items():
                profile = self.profile(key)
                if profile is None or not counts.fits(profile):
                    continue
                last_key = (stats.worker_id, key)
                added = delta(counts, self._last.get(last_key))
                self._last[last_key] = counts
                if added.rows > 0:
                    window = self._windows.setdefault(key, SlidingCounts(self.spec.window_s))
                    window.add(now, added)

    def evaluate(self, now: float, now_ms: int) -> list[dict[str, object]]:
        """PSI of every window holding ``min_events``; an alert per new crossing."""
        alerts: list[dict[str, object]] = []
        for key, window in self._windows.items():
            total = window.total(now)
            state = self.states.setdefault(key, DriftState(*key))
            state.rows = total.rows if total else 0
            profile = self.profile(key)
            if total is None or total.rows < self.spec.min_events or profile is None:
                state.psi, state.drifted = {}, []  # the last full window's PSI is stale
                continue
            state.psi = psi_all(profile, total)
            state.drifted = []
            for metric, value in state.psi.items():
                threshold = self.spec.threshold(metric)
                crossing = self._crossings.setdefault(
                    (key, metric), Crossing(threshold, self.spec.rearm_below))
                if crossing.update(value):
                    state.alerts += 1
                    alerts.append(alert(
                        "drift", key[0], key[1], metric_name(metric), value, threshold,
                        f"{self.spec.window_s:g}s", now_ms,
                        describe(metric, value, threshold, self.spec.window_s)))
                if value > threshold:
                    state.drifted.append(metric)
        return alerts
