"""The loop demo's story, pure: the steps of the loop with their times, and the live accuracy
at the moments that tell whether it worked (before the drift, after it, after the promotion).

The demo feeds it what it sees each refresh (the shift, drift alerts, the pipeline's action
alerts, live metrics per version); no clock, Kafka or Ray here.

>>> story = LoopStory(started_ms=0)
>>> story.update(5.0, shifted=False, serving="1", live={"1": 0.99})
>>> story.update(31.0, shifted=True, serving="1", live={"1": 0.9})
>>> story.update(40.0, shifted=True, serving="1", live={"1": 0.82}, actions=[
...     {"kind": "retrain", "version": "1", "ts": 33_000, "message": "accuracy below 0.9"},
...     {"kind": "promote", "version": "2", "ts": 39_500, "message": "v2 beat v1"}])
>>> story.update(50.0, shifted=True, serving="2", live={"1": 0.82, "2": 0.98})
>>> [(s.at_s, s.kind) for s in story.steps]
[(31.0, 'shift'), (33.0, 'retrain'), (39.5, 'promote')]
>>> story.before_drift, story.after_drift, story.after_promotion, story.promoted
(0.99, 0.82, 0.98, '2')
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: The kinds of action alerts the loop shows (docs/contracts.md, "Alert").
ACTION_KINDS = ("retrain", "candidate", "shadow", "canary", "promote", "swap", "rollback")


@dataclass(frozen=True)
class Step:
    """One line of the loop's timeline: seconds since the demo started, what, which version."""

    at_s: float
    kind: str  # "shift", "drift", or an action alert's kind
    version: str
    message: str


@dataclass
class LoopStory:
    """The timeline and the accuracy at the story's moments; ``started_ms``: when the demo
    started (epoch ms), the zero of every step's time."""

    started_ms: int
    steps: list[Step] = field(default_factory=list)
    before_drift: float | None = None  # the serving version's live accuracy before the shift
    after_drift: float | None = None  # its lowest between the shift and the promotion
    after_promotion: float | None = None  # the promoted version's latest
    promoted: str | None = None  # the version promoted (the first promotion after the shift)
    _seen: set[tuple[str, str, int]] = field(default_factory=set)
    _drifted: set[str] = field(default_factory=set)
    _served_before: str | None = None

    def update(self, now_s: float, *, shifted: bool, serving: str | None,
               live: Mapping[str, float], actions: Iterable[Mapping[str, Any]] = (),
               drift: Mapping[str, str] | None = None) -> None:
        """One look: ``live`` the accuracy per version, ``actions`` the action alerts so far
        (seen ones are skipped), ``drift`` version -> message of the versions with drift
        alerts."""
        if shifted and not any(s.kind == "shift" for s in self.steps):
            self.steps.append(Step(now_s, "shift", serving or "", "the input shifted"))
            self._served_before = serving
        for version, message in (drift or {}).items():
            if version not in self._drifted:
                self._drifted.add(version)
                self.steps.append(Step(now_s, "drift", version, message))
        self._accuracy(shifted, serving, live)  # up to this look, before its promotion
        self._actions(actions)
        self.steps.sort(key=lambda s: s.at_s)

    def _actions(self, actions: Iterable[Mapping[str, Any]]) -> None:
        for action in actions:
            kind, version = str(action.get("kind")), str(action.get("version") or "")
            ts = int(action.get("ts", 0))
            if kind not in ACTION_KINDS or (kind, version, ts) in self._seen:
                continue
            self._seen.add((kind, version, ts))
            self.steps.append(Step((ts - self.started_ms) / 1000, kind, version,
                                   str(action.get("message", ""))))
            if kind == "promote" and self.promoted is None and self._served_before is not None:
                self.promoted = version

    def _accuracy(self, shifted: bool, serving: str | None, live: Mapping[str, float]) -> None:
        if not shifted:
            if serving is not None and serving in live:
                self.before_drift = live[serving]
            return
        first = self._served_before
        if first is not None and first in live and self.promoted is None:
            value = live[first]
            self.after_drift = value if self.after_drift is None else min(self.after_drift,
                                                                         value)
        if self.promoted is not None and serving == self.promoted and self.promoted in live:
            self.after_promotion = live[self.promoted]

    def first(self, kind: str) -> Step | None:
        """The first step of ``kind``."""
        return next((s for s in self.steps if s.kind == kind), None)
