"""The autoscaler's rules on fake numbers and a fake clock, and its controller on a fake runtime.

No broker and no Ray here: the decision function is pure, and the controller is driven with
an injected probe and clock (the real probe and a real pipeline are in
test_lag_probe.py and test_autoscaler_integration.py).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from kafka import TopicPartition
from prometheus_client import CollectorRegistry

from streaminfer.errors import BrokerError, PipelineError
from streaminfer.operators.lag_probe import PartitionLag
from streaminfer.pipelines.online.autoscaler import WorkerAutoscaler
from streaminfer.pipelines.online.scaling_rules import (
    Decision,
    PartitionState,
    bounds,
    decide,
    observe,
)
from streaminfer.pipelines.spec.schema import PipelineSpec, WorkerAutoscaleSpec

TOPIC = "events"
LOGGER = "streaminfer.pipelines.online.autoscaler"


def tp(partition: int) -> TopicPartition:
    return TopicPartition(TOPIC, partition)


def spec(**changes: Any) -> WorkerAutoscaleSpec:
    base: dict[str, Any] = {"enabled": True, "min_workers": 1, "max_workers": 4,
                            "target_lag_per_worker": 100, "scale_down_below": 0.2,
                            "interval_s": 1, "scale_up_cooldown_s": 10,
                            "scale_down_cooldown_s": 30, "stuck_after_s": 30}
    return WorkerAutoscaleSpec.model_validate({**base, **changes})


def states(lags: Mapping[int, int], *, since: float = 1000.0,
           committed: Mapping[int, int] | None = None) -> dict[TopicPartition, PartitionState]:
    """Partitions with these lags, each lagging at an unmoving offset since ``since``."""
    committed = committed or {}
    return {tp(p): PartitionState(committed.get(p, 0), lag, since) for p, lag in lags.items()}


def run(lags: Mapping[int, int], *, workers: int, partitions: int = 4,
        now: float = 1000.0, last_change_at: float | None = 0.0,
        st: Mapping[TopicPartition, PartitionState] | None = None, **changes: Any) -> Decision:
    return decide(st if st is not None else states(lags, since=now), now=now, workers=workers,
                  partitions=partitions, last_change_at=last_change_at, spec=spec(**changes))


# ---------------------------------------------------------------- scaling up


def test_lag_above_target_adds_enough_workers_for_the_lag() -> None:
    d = run({0: 100, 1: 100, 2: 50, 3: 0}, workers=1)  # 250 per worker, target 100
    assert (d.direction, d.target, d.rule) == ("up", 3, "lag_above_target")
    assert d.lag == d.counted_lag == 250
    assert "lag 250 over 1 worker(s) = 250 per worker > target 100: 1 -> 3" in d.reason


def test_scale_up_is_capped_at_max_workers() -> None:
    d = run({p: 5_000 for p in range(8)}, workers=1, partitions=8, max_workers=4)
    assert (d.direction, d.target) == ("up", 4)
    assert "wants 400, capped at max_workers 4" in d.reason


def test_scale_up_never_exceeds_the_partition_count() -> None:
    d = run({0: 5_000, 1: 5_000, 2: 5_000}, workers=1, partitions=3, max_workers=16)
    assert (d.direction, d.target) == ("up", 3)
    assert "capped at the partition count 3" in d.reason


def test_at_the_most_workers_high_lag_holds() -> None:
    d = run({p: 5_000 for p in range(4)}, workers=4)
    assert (d.direction, d.target, d.rule) == ("hold", 4, "at_max_workers")


def test_scale_up_waits_for_its_cooldown_after_any_change() -> None:
    lags = {0: 300, 1: 0, 2: 0, 3: 0}
    held = run(lags, workers=1, now=1000.0, last_change_at=991.0)  # 9 s < 10 s
    assert (held.direction, held.target, held.desired) == ("hold", 1, 3)
    assert held.rule == "scale_up_cooldown" and "cooldown has 1.0s left" in held.reason
    assert run(lags, workers=1, now=1000.0, last_change_at=990.0).target == 3  # 10 s: due


def test_never_changed_means_no_cooldown() -> None:
    assert run({0: 300}, workers=1, last_change_at=None, partitions=4).target == 3


# ---------------------------------------------------------------- the hysteresis band


@pytest.mark.parametrize("per_worker", [20, 21, 60, 99, 100])
def test_between_the_thresholds_nothing_changes(per_worker: int) -> None:
    # 2 workers; scale up above 100 per worker, down below 0.2 x 100 = 20.
    d = run({0: per_worker, 1: per_worker, 2: 0, 3: 0}, workers=2)
    assert (d.direction, d.target, d.rule) == ("hold", 2, "within_band")


def test_just_outside_the_band_changes() -> None:
    assert run({0: 101, 1: 101}, workers=2).direction == "up"
    assert run({0: 19, 1: 19}, workers=2).direction == "down"


def test_a_steady_lag_settles_after_one_change_and_does_not_flap() -> None:
    """A fixed lag of 150 with target 100: 1 worker is too few, 2 sit in the band."""
    workers, last_change, changes = 1, 0.0, []
    for second in range(1, 600):
        now = float(second)
        d = run({0: 75, 1: 75, 2: 0, 3: 0}, workers=workers, now=now,
                last_change_at=last_change, scale_up_cooldown_s=5, scale_down_cooldown_s=5)
        if d.target != workers:
            changes.append((now, workers, d.target))
            workers, last_change = d.target, now
    assert changes == [(5.0, 1, 2)]


def test_a_burst_rises_then_drains_one_worker_at_a_time() -> None:
    """A fake pipeline whose workers each drain 400 records/s: up quickly, down slowly."""
    cfg: dict[str, Any] = {"scale_up_cooldown_s": 2, "scale_down_cooldown_s": 10}
    lag, workers, last_change, history = 20_000, 1, 0.0, []
    for tick in range(1, 400):
        now = tick * 0.5
        lag = max(0, lag - workers * 200)
        d = run({0: lag}, workers=workers, now=now, last_change_at=last_change, **cfg)
        if d.target != workers:
            history.append((now, workers, d.target, d.direction))
            workers, last_change = d.target, now
    assert history[0] == (2.0, 1, 4, "up")  # straight to the most, after the first cooldown
    downs = history[1:]
    assert [(a, b) for _, a, b, _ in downs] == [(4, 3), (3, 2), (2, 1)]
    assert all(later[0] - earlier[0] >= 10 for earlier, later in itertools.pairwise(history))
    assert workers == 1


# ---------------------------------------------------------------- scaling down


def test_low_lag_removes_one_worker_at_a_time() -> None:
    d = run({p: 0 for p in range(4)}, workers=4)
    assert (d.direction, d.target, d.rule) == ("down", 3, "lag_below_threshold")
    assert "4 -> 3" in d.reason


def test_scale_down_waits_for_its_cooldown_after_any_change() -> None:
    lags = {p: 0 for p in range(4)}
    held = run(lags, workers=3, now=1000.0, last_change_at=975.0)  # 25 s < 30 s
    assert (held.direction, held.target, held.rule) == ("hold", 3, "scale_down_cooldown")
    assert run(lags, workers=3, now=1000.0, last_change_at=970.0).target == 2


def test_never_below_min_workers() -> None:
    d = run({p: 0 for p in range(4)}, workers=2, min_workers=2)
    assert (d.direction, d.target, d.rule) == ("hold", 2, "at_min_workers")


def test_below_min_workers_is_corrected_at_once() -> None:
    d = run({p: 0 for p in range(4)}, workers=1, min_workers=2, last_change_at=999.0)
    assert (d.direction, d.target, d.rule) == ("up", 2, "below_min_workers")


def test_above_max_workers_is_corrected_at_once() -> None:
    d = run({p: 0 for p in range(4)}, workers=6, max_workers=3, last_change_at=999.0)
    assert (d.direction, d.target, d.rule) == ("down", 3, "above_max_workers")


def test_scale_down_below_zero_never_removes_workers() -> None:
    assert run({0: 0}, workers=3, scale_down_below=0).direction == "hold"


def test_bounds_never_exceed_partitions_even_with_a_larger_minimum() -> None:
    assert bounds(spec(min_workers=1, max_workers=4), 8) == (1, 4)
    assert bounds(spec(min_workers=1, max_workers=4), 2) == (1, 2)
    assert bounds(spec(min_workers=6, max_workers=8), 4) == (4, 4)


# ---------------------------------------------------------------- stuck partitions


def test_a_stuck_partition_does_not_drive_scale_up() -> None:
    st = states({0: 50_000, 1: 0, 2: 0, 3: 0}, since=900.0)  # 100 s at the same offset
    d = run({}, st=st, workers=1, now=1000.0)
    assert d.stuck == (tp(0),)
    assert (d.lag, d.counted_lag) == (50_000, 0)
    assert (d.direction, d.target) == ("hold", 1)
    assert "not counting stuck events/0 (lag 50000 at offset 0)" in d.reason


def test_a_stuck_partition_does_not_keep_workers_up() -> None:
    st = states({0: 50_000, 1: 0, 2: 0, 3: 0}, since=900.0)
    d = run({}, st=st, workers=3, now=1000.0)
    assert (d.direction, d.target) == ("down", 2)


def test_other_partitions_lag_still_counts_beside_a_stuck_one() -> None:
    st = states({0: 50_000}, since=900.0) | states({1: 150, 2: 150}, since=1000.0)
    d = run({}, st=st, workers=1, now=1000.0)
    assert d.stuck == (tp(0),) and d.counted_lag == 300
    assert (d.direction, d.target) == ("up", 3)


def test_lag_is_stuck_only_after_stuck_after_s() -> None:
    st = states({0: 50_000}, since=971.0)  # 29 s
    d = run({}, st=st, workers=1, now=1000.0)
    assert d.stuck == () and d.direction == "up"


def _lag(committed: int | None, lag: int) -> PartitionLag:
    end = (committed or 0) + lag
    return PartitionLag(committed=committed, end=end, lag=lag)


def test_observe_keeps_the_clock_while_the_offset_stays_and_there_is_lag() -> None:
    s = observe({}, {tp(0): _lag(10, 5)}, now=0.0)
    s = observe(s, {tp(0): _lag(10, 50)}, now=20.0)
    s = observe(s, {tp(0): _lag(10, 500)}, now=40.0)
    assert s[tp(0)] == PartitionState(10, 500, 0.0)
    assert s[tp(0)].stuck(40.0, 30.0) and not s[tp(0)].stuck(29.0, 30.0)


def test_observe_restarts_the_clock_when_the_offset_moves() -> None:
    s = observe({}, {tp(0): _lag(10, 5)}, now=0.0)
    s = observe(s, {tp(0): _lag(11, 5)}, now=20.0)
    s = observe(s, {tp(0): _lag(11, 5)}, now=40.0)
    assert s[tp(0)].still_since == 20.0 and not s[tp(0)].stuck(40.0, 30.0)


def test_an_idle_partition_does_not_age_into_stuck() -> None:
    """No lag for an hour at the same offset, then one record: not stuck at once."""
    s = observe({}, {tp(0): _lag(10, 0)}, now=0.0)
    s = observe(s, {tp(0): _lag(10, 0)}, now=3600.0)
    s = observe(s, {tp(0): _lag(10, 1)}, now=3601.0)
    assert s[tp(0)].still_since == 3601.0 and not s[tp(0)].stuck(3602.0, 30.0)


def test_a_partition_never_committed_with_lag_can_be_stuck() -> None:
    s = observe({}, {tp(0): _lag(None, 7)}, now=0.0)
    s = observe(s, {tp(0): _lag(None, 9)}, now=31.0)
    assert s[tp(0)].stuck(31.0, 30.0)


# ---------------------------------------------------------------- the controller


@dataclass
class FakeMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)


class FakeRuntime:
    """The runtime surface the autoscaler uses, with a worker count and no Ray."""

    def __init__(self, workers: int = 1, partitions: int = 4, metrics: bool = True) -> None:
        self.spec = PipelineSpec.model_validate({
            "name": "fake",
            "source": {"topics": [TOPIC], "group_id": "g", "features": ["a"]},
            "model": {"path": "m.onnx"},
            "sink": {"predictions_topic": "p", "dead_letter_topic": "d"},
        })
        self.kafka_config: dict[str, Any] = {}
        self.source_partitions = partitions
        self.worker_count = workers
        self.metrics = FakeMetrics() if metrics else None
        self.calls: list[int] = []
        self.fail: Exception | None = None
        self.settles = 0

    def scale_to(self, count: int, timeout_s: float = 30.0) -> None:
        self.calls.append(count)
        if self.fail is not None:
            raise self.fail
        self.worker_count = count

    def wait_assigned(self, timeout_s: float, *, balanced: bool = False) -> bool:
        assert balanced
        self.settles += 1
        return True


class Script:
    """A probe answering the lags it is given, and a clock moved by hand."""

    def __init__(self) -> None:
        self.now = 0.0
        self.lags: dict[TopicPartition, PartitionLag] = {}
        self.error: Exception | None = None

    def clock(self) -> float:
        return self.now

    def measure(self) -> dict[TopicPartition, PartitionLag]:
        if self.error is not None:
            raise self.error
        return dict(self.lags)

    def set(self, lags: Mapping[int, int], committed: Mapping[int, int] | None = None) -> None:
        committed = committed or {}
        self.lags = {tp(p): _lag(committed.get(p, 0), lag) for p, lag in lags.items()}


def controller(runtime: FakeRuntime, script: Script, **changes: Any) -> WorkerAutoscaler:
    scaler = WorkerAutoscaler(runtime, spec(**changes), probe=script.measure,
                              clock=script.clock)
    scaler.last_change_at = script.clock()  # as start() does, without its thread
    return scaler


def sample(runtime: FakeRuntime, name: str, **labels: str) -> float | None:
    assert runtime.metrics is not None
    value = runtime.metrics.registry.get_sample_value(name, labels)
    return None if value is None else float(value)


def test_the_controller_scales_logs_and_exports_each_change(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runtime, script = FakeRuntime(), Script()
    scaler = controller(runtime, script)
    caplog.set_level(logging.INFO, logger=LOGGER)
    script.set({0: 400, 1: 0, 2: 0, 3: 0})
    script.now = 5.0
    assert scaler.tick() is not None and runtime.calls == []  # up cooldown (10 s)
    script.now = 10.0
    decision = scaler.tick()
    assert decision is not None and decision.target == 4 and runtime.calls == [4]
    [event] = scaler.decisions
    assert (event.at, event.from_workers, event.to_workers, event.rule) == (
        10.0, 1, 4, "lag_above_target")
    assert event.reason == decision.reason and event.error is None
    changes = [r for r in caplog.records if r.name == LOGGER and r.levelno == logging.INFO
               and "scaling workers" in r.getMessage()]
    assert [r.getMessage() for r in changes] == [
        f"autoscaler: scaling workers 1 -> 4: {decision.reason}"]
    assert sample(runtime, "streaminfer_autoscaler_decisions_total",
                  direction="up", reason="lag_above_target") == 1.0
    assert sample(runtime, "streaminfer_autoscaler_target_workers") == 4.0
    assert sample(runtime, "streaminfer_group_lag", topic=TOPIC, partition="0") == 400.0
    assert sample(runtime, "streaminfer_autoscaler_lag_per_worker") == 400.0

    script.set({p: 0 for p in range(4)})
    for now in (20.0, 39.0):  # down cooldown (30 s) from the change at 10 s
        script.now = now
        scaler.tick()
    assert runtime.calls == [4]
    script.now = 40.0
    scaler.tick()
    assert runtime.calls == [4, 3]
    assert [(e.from_workers, e.to_workers) for e in scaler.decisions] == [(1, 4), (4, 3)]
    assert sample(runtime, "streaminfer_autoscaler_decisions_total",
                  direction="down", reason="lag_below_threshold") == 1.0


def test_a_stuck_partition_is_warned_about_once_and_counted_in_the_metric(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runtime, script = FakeRuntime(), Script()
    scaler = controller(runtime, script, stuck_after_s=5, scale_up_cooldown_s=60)
    caplog.set_level(logging.INFO, logger=LOGGER)
    script.set({0: 5_000, 1: 0, 2: 0, 3: 0}, committed={0: 42})
    for second in range(0, 120):
        script.now = float(second)
        scaler.tick()
    assert runtime.calls == []  # the cooldown ran out at 60 s: the stuck lag was not counted
    assert scaler.last_decision is not None and scaler.last_decision.stuck == (tp(0),)
    warnings = [r.getMessage() for r in caplog.records
                if r.name == LOGGER and r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "partition events/0 is stuck: lag 5000" in warnings[0]
    assert sample(runtime, "streaminfer_stuck_partitions") == 1.0
    assert sample(runtime, "streaminfer_autoscaler_desired_workers") == 1.0

    script.set({0: 4_000, 1: 0, 2: 0, 3: 0}, committed={0: 1042})  # it moves again
    script.now = 121.0
    scaler.tick()
    assert sample(runtime, "streaminfer_stuck_partitions") == 0.0
    assert any("partition events/0 is no longer stuck" in r.getMessage() for r in caplog.records)


def test_without_the_stuck_rule_the_same_lag_would_scale_up() -> None:
    """The control for the test above: a partition that moves, with the same lag, scales."""
    runtime, script = FakeRuntime(), Script()
    scaler = controller(runtime, script, stuck_after_s=5, scale_up_cooldown_s=60)
    for second in range(0, 120):
        script.set({0: 5_000}, committed={0: second})
        script.now = float(second)
        scaler.tick()
    assert runtime.calls == [4]


def test_a_failed_measurement_holds_and_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    runtime, script = FakeRuntime(workers=3), Script()
    scaler = controller(runtime, script, scale_down_cooldown_s=0)
    caplog.set_level(logging.INFO, logger=LOGGER)
    script.error = BrokerError("lag probe: NodeNotReadyError")
    for _ in range(5):
        assert scaler.tick() is None
    assert runtime.calls == []
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "cannot measure lag" in warnings[0].getMessage()
    script.error = None
    script.set({0: 0})
    assert scaler.tick() is not None and runtime.calls == [2]


def test_a_failed_scale_is_recorded_and_the_cooldown_still_applies(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runtime, script = FakeRuntime(), Script()
    scaler = controller(runtime, script, scale_up_cooldown_s=10)
    runtime.fail = PipelineError("worker(s) could not start: no CPUs")
    script.set({0: 1_000})
    script.now = 10.0
    scaler.tick()
    [event] = scaler.decisions
    assert event.error == "PipelineError: worker(s) could not start: no CPUs"
    assert runtime.settles == 0  # nothing changed: no rebalance to wait for
    script.now = 15.0
    scaler.tick()
    assert runtime.calls == [4]  # not hammered again within the cooldown
    assert any(r.levelno == logging.ERROR for r in caplog.records)


def test_the_cooldown_counts_from_when_the_group_settled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Partitions move for a while after a change, and lag piles up meanwhile: that lag
    # must not count as load once a cooldown that started before it ended runs out.
    runtime, script = FakeRuntime(workers=4), Script()
    scaler = controller(runtime, script, scale_up_cooldown_s=1, scale_down_cooldown_s=1)

    def slow_rebalance(timeout_s: float, *, balanced: bool = False) -> bool:
        runtime.settles += 1
        script.now += 3.0  # the group takes 3 s to settle
        return True

    runtime.wait_assigned = slow_rebalance  # type: ignore[method-assign]
    script.set({p: 0 for p in range(4)})
    script.now = 2.0
    scaler.tick()
    assert runtime.calls == [3] and runtime.settles == 1
    assert scaler.last_change_at == 5.0
    script.set({0: 1_200, 1: 0, 2: 0, 3: 0})  # what piled up while partitions moved
    script.now = 5.5
    scaler.tick()
    assert runtime.calls == [3]  # still cooling down: 1 s from 5.0, not from 2.0

    def never_settles(timeout_s: float, *, balanced: bool = False) -> bool:
        return False

    runtime.wait_assigned = never_settles  # type: ignore[method-assign]
    caplog.set_level(logging.WARNING, logger=LOGGER)
    script.now = 6.5
    scaler.tick()
    assert runtime.calls == [3, 4]
    assert any("has not settled" in r.getMessage() for r in caplog.records)


def test_metrics_are_optional() -> None:
    runtime, script = FakeRuntime(metrics=False), Script()
    scaler = controller(runtime, script, scale_up_cooldown_s=0)
    script.set({0: 1_000})
    assert scaler.tick() is not None and runtime.calls == [4]


def test_the_decision_history_is_bounded() -> None:
    runtime, script = FakeRuntime(workers=2), Script()
    scaler = controller(runtime, script, min_workers=1, max_workers=2,
                        scale_up_cooldown_s=0, scale_down_cooldown_s=0)
    for i in range(600):
        script.set({0: 0 if i % 2 else 10_000})
        scaler.tick()
    assert len(scaler.decisions) == scaler.decisions.maxlen == 256


def test_the_thread_measures_every_interval_and_stops_promptly() -> None:
    runtime = FakeRuntime()
    measured = threading.Event()

    def probe() -> dict[TopicPartition, PartitionLag]:
        measured.set()
        return {tp(0): _lag(0, 0)}

    scaler = WorkerAutoscaler(runtime, spec(interval_s=600), probe=probe)
    scaler.start()
    try:
        assert measured.wait(10)  # the first round runs at once
        assert scaler.wait_for(lambda s: s.ticks >= 1, timeout_s=10)
    finally:
        began = time.monotonic()
        scaler.stop()
    assert time.monotonic() - began < 2.0  # not the 600 s interval
    assert scaler.ticks == 1 and runtime.calls == []
