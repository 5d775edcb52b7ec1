"""The driver thread that retrains by itself (``retrain.when``; docs/rollout.md).

Thin: every ``retrain.when.check_every_s`` it gathers what the rule needs (labelled
examples on the training topic past the champion's recorded data range and past the last
retraining's start, from end offsets only; drift alerts of the serving version since the
last retraining; its live metrics), asks :func:`retrain_trigger`, and when that fires
starts ``streaminfer retrain`` as a Ray task (never in this thread; one at a time; the
cooldown counts from the start). When the task ends it records the candidate (or why it
failed) and, with ``then: shadow`` (``canary``), sets a candidate that passed the gate as
the shadow (the canary), which the alias follower then starts. Every step is recorded in
the :class:`ActionLog`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from streaminfer.errors import StreamInferError
from streaminfer.pipelines.lifecycle.registry import Registry
from streaminfer.pipelines.lifecycle.retrain_outcome import candidate_note, failure_reason
from streaminfer.pipelines.lifecycle.retrain_policy import (
    PolicyState,
    Trigger,
    new_examples,
    retrain_trigger,
    trained_until,
)
from streaminfer.pipelines.lifecycle.roles import CHAMPION
from streaminfer.pipelines.lifecycle.swap_rule import CANARY_SHARE_TAG, candidate_moves
from streaminfer.pipelines.lifecycle.versions import Mode
from streaminfer.pipelines.process.log_levels import actor_options
from streaminfer.pipelines.rollout.actions import ActionLog
from streaminfer.pipelines.runtime.driver_thread import DriverThread
from streaminfer.pipelines.spec.schema import PipelineSpec

if TYPE_CHECKING:
    from ray import ObjectRef

    from streaminfer.pipelines.lifecycle.retrain import RetrainResult

log = logging.getLogger(__name__)


def retrain_task(spec: PipelineSpec, tracking_uri: str) -> RetrainResult:
    """``streaminfer retrain`` in a Ray worker: read, train, gate, register."""
    from streaminfer.pipelines.lifecycle.retrain import retrain
    from streaminfer.pipelines.process.log_levels import setup_actor_logging

    setup_actor_logging()
    return retrain(spec, registry=Registry.from_spec(spec.registry, tracking_uri))


@dataclass(frozen=True)
class Sources:
    """Where the thread reads what the rule needs (callables: the driver's parts)."""

    ends: Callable[[], Mapping[int, int]]  # the training topic's end offsets
    serving: Callable[[], str]  # the version the workers serve
    drift_alerts: Callable[[str], int]  # drift alerts so far of that version
    live: Callable[[str], Mapping[str, float]]  # its live metrics


@dataclass
class RetrainState:
    """What the thread remembers between looks (for ``Pipeline.models()`` too)."""

    started_s: float | None = None  # time.monotonic() of the last start
    seen: dict[int, int] = field(default_factory=dict)  # end offsets at the last start
    drift_seen: dict[str, int] = field(default_factory=dict)  # version -> alerts then
    running: Any = None  # the task's ObjectRef while it runs
    reason: str | None = None  # why the last one started
    runs: int = 0


class AutoRetrain:
    """Retrains model ``model`` (registered as ``registered``) when ``spec.retrain.when``
    says so; :meth:`stop` ends the thread (a running task finishes on its own)."""

    def __init__(self, spec: PipelineSpec, model: str, registered: str, registry: Registry,
                 sources: Sources, actions: ActionLog) -> None:
        assert spec.retrain is not None
        self.spec, self.rt = spec, spec.retrain
        self.policy = spec.retrain.when
        self.model, self.registered = model, registered
        self.registry, self.sources, self.actions = registry, sources, actions
        self.state = RetrainState()
        self.thread = DriverThread("auto-retrain", "automatic retraining",
                                   self.policy.check_every_s, self.look)

    def start(self) -> AutoRetrain:
        log.info("model %s retrains by itself (retrain.when); looking every %gs", self.model,
                 self.policy.check_every_s)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.thread.stop(30.0)

    @property
    def running(self) -> bool:
        return self.state.running is not None

    def look(self) -> None:
        """Collect a finished task; else, with none running, start one if a trigger fires."""
        if self.state.running is not None:
            self._collect()
            return
        ends = dict(self.sources.ends())
        serving = self.sources.serving()
        trigger = retrain_trigger(self.policy, self.policy_state(ends, serving))
        if trigger is not None:
            self._launch(trigger, ends, serving)

    def policy_state(self, ends: dict[int, int], serving: str) -> PolicyState:
        """What the rule is asked about, with the training topic at ``ends`` and version
        ``serving`` serving."""
        state, topic = self.state, self.rt.source.topic or ""
        champion = self.registry.find(self.registered, CHAMPION)
        until = trained_until(champion.data_range if champion else None, topic)
        alerts = self.sources.drift_alerts(serving) - state.drift_seen.get(serving, 0)
        since = (time.monotonic() - state.started_s if state.started_s is not None
                 else float("inf"))
        return PolicyState(new_examples=new_examples(ends, until, state.seen),
                           drift_alerts=max(0, alerts), live=self.sources.live(serving),
                           since_last_s=since)

    def _launch(self, trigger: Trigger, ends: dict[int, int], serving: str) -> None:
        import ray

        state = self.state
        state.started_s, state.seen, state.reason = time.monotonic(), ends, trigger.message
        state.drift_seen[serving] = self.sources.drift_alerts(serving)
        state.runs += 1
        self.actions.record("retrain", self.model, serving,
                            f"retraining started: {trigger.message}", metric=trigger.metric,
                            value=trigger.value, threshold=trigger.threshold)
        task = ray.remote(retrain_task).options(num_cpus=self.policy.num_cpus, max_retries=0,
                                                **actor_options())
        try:
            state.running = task.remote(self.spec, self.registry.uri)
        except Exception as exc:  # Ray going away: said like any failed retraining
            self._failed(exc)

    def _failed(self, error: BaseException) -> None:
        self.actions.record("candidate", self.model, None,
                            f"retraining failed: {failure_reason(error)}",
                            level=logging.WARNING)

    def _collect(self) -> None:
        import ray

        ref: ObjectRef[RetrainResult] = self.state.running
        done, _ = ray.wait([ref], timeout=0)
        if not done:
            return
        self.state.running = None
        try:
            result = ray.get(ref)
        except Exception as exc:  # the task's error: too few examples, one class, registry
            self._failed(exc)
            return
        rules = self.rt.gate
        note = candidate_note(result, rules[0].metric if rules else None, self.policy.then)
        self.actions.record("candidate", self.model, note.version, note.message,
                            metric=note.metric, value=note.value, threshold=note.threshold,
                            window=note.window)
        if result.gate.passed and self.policy.then != "register":
            self._candidate(result.version.version)

    def _candidate(self, version: str) -> None:
        """Set ``version`` as the shadow or the canary (``then``); the follower starts it at
        its next poll."""
        mode: Mode = "canary" if self.policy.then == "canary" else "shadow"
        try:
            moves = candidate_moves(self.registry.aliases(self.registered), mode, version)
            if mode == "canary":
                self.registry.tag(self.registry.resolve(self.registered, version),
                                  {CANARY_SHARE_TAG: str(self.policy.canary_share)})
            self.registry.apply(self.registered, moves)
        except StreamInferError as exc:
            self.actions.record("candidate", self.model, version, f"version {version} "
                                f"passed the gate but could not be set as the {mode}: {exc}",
                                level=logging.WARNING)
