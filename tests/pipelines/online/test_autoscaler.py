"""The autoscaler's controller on a fake runtime, an injected probe and a fake clock.

No broker and no Ray here (the rules it applies are in test_scaling_rules.py; the real probe
and a real pipeline are in test_lag_probe.py and test_autoscaler_integration.py).
"""

from __future__ import annotations

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
from streaminfer.operators.partition_lag import PartitionLag
from streaminfer.pipelines.online.autoscaler import WorkerAutoscaler
from streaminfer.pipelines.spec.schema import PipelineSpec
from tests.fixtures.autoscaling import TOPIC, tp
from tests.fixtures.autoscaling import autoscale_spec as spec
from tests.fixtures.autoscaling import lag_of as _lag

LOGGER = "streaminfer.pipelines.online.autoscaler"
THREAD_LOGGER = "streaminfer.pipelines.runtime.driver_thread"


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
    caplog.set_level(logging.INFO, logger=THREAD_LOGGER)
    script.error = BrokerError("lag probe: NodeNotReadyError")
    for _ in range(5):
        assert not scaler.thread.run_step()  # the thread's round, under its error policy
    assert runtime.calls == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "worker autoscaler stopped working" in warnings[0]
    assert "cannot measure lag" in warnings[0] and "holding 3 worker(s)" in warnings[0]
    assert scaler.thread.last_error is not None and scaler.thread.last_error.count == 5
    script.error = None
    script.set({0: 0})
    assert scaler.thread.run_step() and runtime.calls == [2]


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
