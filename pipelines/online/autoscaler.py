"""Scale source workers on consumer lag (``workers.autoscale``).

Two parts:

- pure functions, :func:`~.scaling_rules.observe` and :func:`~.scaling_rules.decide`
  (in :mod:`.scaling_rules`), that turn lag measurements over time into a decision (how many
  workers, and why). They take the time as an argument, so tests drive them with fake
  numbers and a fake clock.
- :class:`WorkerAutoscaler`, a daemon thread in the driver that every ``interval_s`` measures
  the group's lag with a :class:`~streaminfer.pipelines.kafka.lag_probe.LagProbe`, decides, logs a
  change with its reason, calls ``runtime.scale_to(n)`` and exports Prometheus metrics.

The rules (see docs/operations.md, "Scaling workers on lag"):

- lag per worker above ``target_lag_per_worker``: scale up to ``ceil(lag / target)`` workers,
  at most ``max_workers`` and never more than the source partitions, once
  ``scale_up_cooldown_s`` has passed since the last change;
- lag per worker below ``scale_down_below * target``: remove one worker, once
  ``scale_down_cooldown_s`` has passed since the last change;
- in between, nothing changes (hysteresis);
- a partition that has had lag while its committed offset stayed put for ``stuck_after_s`` is
  *stuck* (a poison record, a hung consumer): its lag is left out, since more workers would
  not move it, and it is reported (log warning once, metric, decision reason).

Cooldowns count from when the consumer group has settled after a change (every worker that
can own a partition owns one), since lag piles up while partitions move. The start of the
autoscaler counts as a change: the workers the pipeline started with get one cooldown before
they are added to or removed.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from kafka import TopicPartition
from prometheus_client import CollectorRegistry

from streaminfer.errors import PipelineError, StreamInferError
from streaminfer.operators import metric_names as names
from streaminfer.operators.partition_lag import PartitionLag, partition_name
from streaminfer.pipelines.kafka.lag_probe import LagProbe
from streaminfer.pipelines.online.scaling_rules import (
    PartitionState,
    ScalingDecision,
    bounds,
    decide,
    observe,
)
from streaminfer.pipelines.runtime.driver_thread import DriverThread
from streaminfer.pipelines.spec.schema import PipelineSpec, WorkerAutoscaleSpec

log = logging.getLogger(__name__)

#: Decisions kept in :attr:`WorkerAutoscaler.decisions`.
HISTORY = 256
#: Longest :meth:`WorkerAutoscaler.stop` waits for a scale in progress to finish.
STOP_TIMEOUT_S = 180.0
#: Longest wait, after a change, for the consumer group to settle before the cooldown starts.
SETTLE_TIMEOUT_S = 30.0


# ---------------------------------------------------------------- the controller


class HasRegistry(Protocol):
    """Where metrics go: the driver's ``MetricsServer``, which has a Prometheus registry."""

    @property
    def registry(self) -> CollectorRegistry: ...


class ScalableRuntime(Protocol):
    """What the autoscaler needs of the pipeline driver (it scales the worker pool)."""

    @property
    def spec(self) -> PipelineSpec: ...
    @property
    def kafka_config(self) -> dict[str, Any]: ...
    @property
    def source_partitions(self) -> int: ...
    @property
    def worker_count(self) -> int: ...
    @property
    def metrics(self) -> HasRegistry | None: ...
    def scale_to(self, count: int, timeout_s: float = ...) -> None: ...
    def wait_assigned(self, timeout_s: float, *, balanced: bool = ...) -> bool: ...


@dataclass(frozen=True)
class ScaleEvent:
    """One change the autoscaler made."""

    at: float
    """When it was decided, on the autoscaler's clock (monotonic by default)."""
    wall_time: float
    """The same moment as a Unix time."""
    from_workers: int
    to_workers: int
    rule: str
    reason: str
    error: str | None = None
    """Why ``scale_to`` failed, if it did (the count may then differ from ``to_workers``)."""


class _Metrics:
    """The autoscaler's series on the driver's Prometheus registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        from prometheus_client import Counter, Gauge

        self.target = Gauge(names.AUTOSCALER_TARGET,
                            "Source workers the autoscaler has set.", registry=registry)
        self.desired = Gauge(names.AUTOSCALER_DESIRED,
                             "Source workers the lag asks for, before cooldowns.",
                             registry=registry)
        self.decisions = Counter(names.AUTOSCALER_DECISIONS,
                                 "Changes of the worker count, by direction and rule.",
                                 ["direction", "reason"], registry=registry)
        self.per_worker = Gauge(names.AUTOSCALER_LAG_PER_WORKER,
                                "Lag that drives scaling (stuck partitions left out) per worker.",
                                registry=registry)
        self.lag = Gauge(names.GROUP_LAG,
                         "Records the consumer group has not committed, per partition.",
                         ["topic", "partition"], registry=registry)
        self.stuck = Gauge(names.STUCK_PARTITIONS,
                           "Partitions with lag whose committed offset has not moved for "
                           "stuck_after_s.", registry=registry)


class WorkerAutoscaler:
    """Scales ``runtime``'s source workers on the consumer group's lag (a driver thread).

    ``probe`` and ``clock`` are for tests; by default a :class:`LagProbe` on the pipeline's
    source topics and group, and ``time.monotonic``.
    """

    def __init__(
        self, runtime: ScalableRuntime, spec: WorkerAutoscaleSpec, *,
        probe: Callable[[], Mapping[TopicPartition, PartitionLag]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.runtime = runtime
        self.spec = spec
        self.clock = clock
        self.decisions: deque[ScaleEvent] = deque(maxlen=HISTORY)
        self.last_decision: ScalingDecision | None = None
        self.states: dict[TopicPartition, PartitionState] = {}
        self.last_change_at: float | None = None
        self._probe: LagProbe | None = None
        self._measure = probe
        self._warned: set[TopicPartition] = set()
        self.thread = DriverThread("worker-autoscaler", "worker autoscaler", spec.interval_s,
                                   self.tick, first_wait=False, on_exit=self._close_probe)
        self._metrics = _Metrics(runtime.metrics.registry) if runtime.metrics else None

    def start(self) -> WorkerAutoscaler:
        """Connect the probe (a failure raises here, in the caller) and start the thread."""
        source = self.runtime.spec.source
        if self._measure is None:
            self._probe = LagProbe(self.runtime.kafka_config, list(source.topics),
                                   source.group_id, auto_offset_reset=source.auto_offset_reset)
            self._measure = self._probe.measure
        fewest, most = bounds(self.spec, self.runtime.source_partitions)
        if self.spec.min_workers > most:
            log.warning("workers.autoscale.min_workers=%d but the source has %d partitions: "
                        "the autoscaler keeps at most %d workers", self.spec.min_workers,
                        self.runtime.source_partitions, most)
        log.info("autoscaler: %d..%d workers, target lag %d per worker, every %gs",
                 fewest, most, self.spec.target_lag_per_worker, self.spec.interval_s)
        self.last_change_at = self.clock()
        if self._metrics:
            self._metrics.target.set(self.runtime.worker_count)
        self.thread.start()
        return self

    @property
    def ticks(self) -> int:
        """Rounds run so far (failed ones too)."""
        return self.thread.steps

    def stop(self) -> None:
        """End the thread (at once, or after a scale in progress) and close the probe."""
        if not self.thread.stop(STOP_TIMEOUT_S):  # it closes the probe when the scale returns
            log.warning("autoscaler: a scale still runs after %.0fs; leaving it",
                        STOP_TIMEOUT_S)

    def _close_probe(self) -> None:
        probe, self._probe = self._probe, None
        if probe is not None:
            probe.close()

    def wait_for(self, predicate: Callable[[WorkerAutoscaler], bool], timeout_s: float) -> bool:
        """Wait until ``predicate(self)`` holds, looking again after each round."""
        return self.thread.wait_for(lambda: predicate(self), timeout_s)

    def tick(self) -> ScalingDecision:
        """One round: measure, decide, act; the decision. When the lag cannot be measured,
        a :class:`PipelineError` says so and the workers stay as they are (the thread's
        policy logs it and tries again next round)."""
        assert self._measure is not None, "start() first"
        now = self.clock()
        try:
            measured = self._measure()
        except StreamInferError as exc:
            raise PipelineError(f"cannot measure lag ({exc}); holding "
                                f"{self.runtime.worker_count} worker(s)") from exc
        self.states = observe(self.states, measured, now)
        workers = self.runtime.worker_count
        decision = decide(self.states, now=now, workers=workers,
                          partitions=self.runtime.source_partitions,
                          last_change_at=self.last_change_at, spec=self.spec)
        self._report_stuck(decision, now)
        self._export(decision)
        previous, self.last_decision = self.last_decision, decision
        if decision.target == workers or self.thread.stopping:
            if previous is None or previous.rule != decision.rule:
                log.debug("autoscaler: holding %d worker(s): %s", workers, decision.reason)
            return decision
        log.info("autoscaler: scaling workers %d -> %d: %s", workers, decision.target,
                 decision.reason)
        error = None
        try:
            self.runtime.scale_to(decision.target)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            log.error("autoscaler: scaling to %d failed: %s", decision.target, error)
        else:
            self._wait_settled(decision.target)
        self.last_change_at = self.clock()  # the cooldown runs from the end of the change
        self.decisions.append(ScaleEvent(now, time.time(), workers, decision.target,
                                         decision.rule, decision.reason, error))
        if self._metrics:
            self._metrics.decisions.labels(decision.direction, decision.rule).inc()
            self._metrics.target.set(self.runtime.worker_count)
        return decision

    def _wait_settled(self, workers: int) -> None:
        """Wait for the rebalance a change causes: lag piles up while the partitions move,
        and a cooldown counted from before it ends would take that for load (and flap)."""
        if not self.runtime.wait_assigned(SETTLE_TIMEOUT_S, balanced=True):
            log.warning("autoscaler: the consumer group has not settled %.0fs after scaling "
                        "to %d worker(s); counting the cooldown from now", SETTLE_TIMEOUT_S,
                        workers)

    def _report_stuck(self, decision: ScalingDecision, now: float) -> None:
        """A warning when a partition becomes stuck, an info line when it no longer is."""
        stuck = set(decision.stuck)
        for tp in sorted(stuck - self._warned, key=lambda tp: (tp.topic, tp.partition)):
            state = self.states[tp]
            log.warning("autoscaler: partition %s is stuck: lag %d, committed offset %s has "
                        "not moved for %.0fs; more workers would not help, so its lag is not "
                        "counted (a poison record or a hung consumer?)", partition_name(tp),
                        state.lag, state.committed, now - state.still_since)
        for tp in sorted(self._warned - stuck):
            now_state = self.states.get(tp)
            log.info("autoscaler: partition %s is no longer stuck (committed offset %s, lag %s)",
                     partition_name(tp), now_state.committed if now_state else None,
                     now_state.lag if now_state else None)
        self._warned = stuck

    def _export(self, decision: ScalingDecision) -> None:
        metrics = self._metrics
        if metrics is None:
            return
        metrics.desired.set(decision.desired)
        metrics.per_worker.set(decision.lag_per_worker)
        metrics.stuck.set(len(decision.stuck))
        for tp, state in self.states.items():
            metrics.lag.labels(tp.topic, str(tp.partition)).set(state.lag)
