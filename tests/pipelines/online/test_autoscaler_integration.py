"""The worker autoscaler on a real pipeline: real broker, real Ray, real workers.

- a burst on a 4-partition topic scales the workers up from 1 (at most 3, the setting, one
  below what the partitions allow), they drain it, and they come back to 1 after the
  cooldown; every event gets exactly one prediction.
- a partition held by a group member that never commits (a hung consumer, as a worker stuck
  on a poison record would be) is reported stuck, and its lag does not scale the workers up.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from streaminfer import Pipeline
from streaminfer.pipelines.devtools.example_models import Dataset
from streaminfer.pipelines.online.autoscaler import WorkerAutoscaler
from streaminfer.waiting import wait_until

pytestmark = pytest.mark.integration

LOGGER = "streaminfer.pipelines.online.autoscaler"
MOST_WORKERS = 3  # the burst test's max_workers, on 4 partitions


def autoscaler_of(pipeline: Any) -> WorkerAutoscaler:
    scaler = pipeline.autoscaler
    assert isinstance(scaler, WorkerAutoscaler)
    return scaler


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(url, timeout=10) as answer:
        text = answer.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_a_burst_scales_workers_up_then_back_down_without_losing_or_repeating_events(
    pipeline_factory: Callable[..., Any], dataset_factory: Callable[[str], Dataset],
    feeder: Callable[..., Any], watcher: Callable[[str], Any],
) -> None:
    # Capped at 3 (not the 4 the partitions allow): the cap is what holds it, and the way
    # back down is two one-step changes rather than three (each a ~3-5 s group rebalance).
    autoscale = {"enabled": True, "min_workers": 1, "max_workers": MOST_WORKERS,
                 "target_lag_per_worker": 300, "scale_down_below": 0.2, "interval_s": 0.25,
                 "scale_up_cooldown_s": 1.0, "scale_down_cooldown_s": 2.0,
                 "stuck_after_s": 20.0}
    run = pipeline_factory(partitions=4, workers={"count": 1, "autoscale": autoscale})
    pipeline = run.pipeline
    scaler = autoscaler_of(pipeline)
    assert pipeline.metrics_url is not None
    count = 10_000  # a burst of lag far above 300 a worker: enough to scale up
    feed = feeder(run.source_topic, dataset_factory("breast_cancer"), count)
    preds = watcher(run.predictions_topic)
    most = 1
    began = time.monotonic()
    try:
        feed.start()

        def risen(s: WorkerAutoscaler) -> bool:
            nonlocal most
            most = max(most, s.runtime.worker_count)
            return most > 1

        assert scaler.wait_for(risen, timeout_s=30), scaler.last_decision
        expected = {f"e{i}" for i in range(count)}
        assert preds.until(lambda: expected <= set(preds.seen), timeout_s=60), (
            f"missing {len(expected - set(preds.seen))} predictions")
        print(f"burst of {count}: drained after {time.monotonic() - began:.1f}s")

        def back_to_min(s: WorkerAutoscaler) -> bool:
            nonlocal most
            most = max(most, s.runtime.worker_count)
            return s.runtime.worker_count == 1 and bool(s.decisions) and \
                s.decisions[-1].to_workers == 1
        assert scaler.wait_for(back_to_min, timeout_s=40), list(scaler.decisions)
        metrics = scrape(pipeline.metrics_url)
    finally:
        feed.halt.set()
        feed.join(30)
        final = pipeline.stop()
    try:
        # Everything the workers acknowledged is on the topic: read it all, then compare.
        assert preds.until(lambda: sum(preds.seen.values()) >= final.predictions,
                             timeout_s=30)
    finally:
        preds.close()
    assert not feed.failed, feed.failed

    assert 1 < most <= MOST_WORKERS
    ups, downs = check_decisions(list(scaler.decisions))
    duplicates = {i: n for i, n in preds.seen.items() if n > 1}
    assert len(preds.seen) == count and duplicates == {}, (len(preds.seen), duplicates)
    assert final.predictions == count and final.dead_letters == 0
    check_scaling_metrics(metrics, ups=len(ups), downs=len(downs))


def check_decisions(events: list[Any]) -> tuple[list[Any], list[Any]]:
    """Up from 1 on lag, then down one at a time to 1, each after its cooldown, no flapping:
    (ups, downs)."""
    summary = [(round(e.at - events[0].at, 1), e.from_workers, e.to_workers, e.rule)
               for e in events]
    print(f"decisions {summary}")
    ups = [e for e in events if e.to_workers > e.from_workers]
    downs = [e for e in events if e.to_workers < e.from_workers]
    assert ups and ups[0].from_workers == 1 and ups[0].rule == "lag_above_target"
    assert all(e.to_workers <= MOST_WORKERS and e.error is None for e in events)
    assert events == ups + downs, "scaled up again after scaling down (flapping)"
    assert [e.from_workers - e.to_workers for e in downs] == [1] * len(downs)
    assert all(e.rule == "lag_below_threshold" for e in downs)
    assert downs[-1].to_workers == 1
    for earlier, later in itertools.pairwise(events):  # each change waited for its cooldown
        assert later.at - earlier.at >= (1.0 if later in ups else 2.0), summary
    return ups, downs


def check_scaling_metrics(metrics: dict[Any, float], ups: int, downs: int) -> None:
    """The exported metrics agree with the decisions, and the group has no lag left."""
    assert metrics[("streaminfer_autoscaler_target_workers", ())] == 1.0
    decided = {labels: v for (name, labels), v in metrics.items()
               if name == "streaminfer_autoscaler_decisions_total"}
    assert decided[(("direction", "up"), ("reason", "lag_above_target"))] == ups
    assert decided[(("direction", "down"), ("reason", "lag_below_threshold"))] == downs
    lags = [v for (name, _), v in metrics.items() if name == "streaminfer_group_lag"]
    assert len(lags) == 4 and sum(lags) == 0
    assert metrics[("streaminfer_stuck_partitions", ())] == 0.0


class HungMember(threading.Thread):
    """A real member of the pipeline's consumer group that polls (so it stays in the group
    through rebalances) but never commits: the partitions it holds stay at their offsets,
    like those of a worker stuck retrying a poison record.

    Its client id sorts after the workers', so the range assignor gives it the last
    partition of a 3-partition topic when one worker is in the group.
    """

    def __init__(self, config: dict[str, Any], topic: str, group_id: str) -> None:
        super().__init__(daemon=True)
        self.consumer = KafkaConsumer(
            **{**config, "client_id": "zzz-hung-member"}, group_id=group_id,
            enable_auto_commit=False, auto_offset_reset="earliest",
            session_timeout_ms=6000, heartbeat_interval_ms=500)
        self.consumer.subscribe([topic])
        self.assigned: set[TopicPartition] = set()
        self.halt = threading.Event()

    def run(self) -> None:
        try:
            while not self.halt.is_set():
                self.consumer.poll(timeout_ms=100)
                self.assigned = set(self.consumer.assignment())
        finally:
            self.consumer.close(autocommit=False)


def test_a_stuck_partition_does_not_drive_scale_up(
    ray_session: None, pipeline_spec_factory: Callable[..., Any],
    dataset_factory: Callable[[str], Dataset], kafka_config: dict[str, Any],
    feeder: Callable[..., Any], watcher: Callable[[str], Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    target, poison, fed, cooldown = 1_000, 5_000, 300, 6.0
    autoscale = {"enabled": True, "min_workers": 1, "max_workers": 4,
                 "target_lag_per_worker": target, "interval_s": 0.25,
                 "scale_up_cooldown_s": cooldown, "scale_down_cooldown_s": 1.0,
                 "stuck_after_s": 3.0}
    spec = pipeline_spec_factory(partitions=3, workers={"count": 1, "autoscale": autoscale})
    topic = spec.source.topics[0]
    cancer = dataset_factory("breast_cancer")
    # The poison partition's events are there before anyone reads them.
    backlog = feeder(topic, cancer, poison, partitions=[2])
    backlog.run()
    assert not backlog.failed
    hung = HungMember(kafka_config, topic, spec.source.group_id)
    hung.start()
    pipeline = None
    try:
        assert wait_until(lambda: len(hung.assigned) == 3, 30)  # alone in the group
        pipeline = Pipeline(spec).start()
        scaler = autoscaler_of(pipeline)
        mine = {f"{topic}/0", f"{topic}/1"}
        assert wait_until(lambda: pipeline.stats().assigned == mine
                          and hung.assigned == {TopicPartition(topic, 2)}, 30)
        feed = feeder(topic, cancer, fed, rate=1_000, partitions=[0, 1])
        preds = watcher(spec.sink.predictions_topic)
        try:
            feed.start()
            expected = {f"e{i}" for i in range(fed)}  # the other partitions drain
            assert preds.until(lambda: expected <= set(preds.seen), timeout_s=30)
        finally:
            feed.join(30)
            preds.close()
        assert not feed.failed, feed.failed

        check_stuck_and_held(scaler, pipeline, topic, poison=poison, target=target,
                             cooldown=cooldown)
    finally:
        if pipeline is not None:
            pipeline.stop()  # before the hung member leaves and frees its partition
        hung.halt.set()
        hung.join(30)
    warned = [r.getMessage() for r in caplog.records
              if r.name == LOGGER and r.levelno == logging.WARNING]
    assert len(warned) == 1 and f"partition {topic}/2 is stuck" in warned[0], warned


def check_stuck_and_held(scaler: WorkerAutoscaler, pipeline: Pipeline, topic: str, *,
                         poison: int, target: int, cooldown: float) -> None:
    """Once the scale-up cooldown is over, partition 2 is found stuck, its lag is not counted,
    and nothing scaled; the metrics say so."""
    def cooled_and_stuck(s: WorkerAutoscaler) -> bool:
        # ... and the drained partitions read as drained (once, on a fresh clone, a decision
        # still counted 50 events of lag on partitions 0-1 after every prediction was out).
        assert s.last_change_at is not None
        return (s.clock() - s.last_change_at > cooldown + 1.0
                and s.last_decision is not None and bool(s.last_decision.stuck)
                and s.last_decision.counted_lag == 0)

    assert scaler.wait_for(cooled_and_stuck, timeout_s=30), scaler.last_decision
    decision = scaler.last_decision
    assert decision is not None
    assert decision.stuck == (TopicPartition(topic, 2),), decision
    assert decision.lag >= poison > target and decision.counted_lag == 0, decision
    assert "not counting stuck" in decision.reason
    assert list(scaler.decisions) == [], "the stuck partition's lag scaled the workers"
    assert pipeline.worker_names and len(pipeline.worker_names) == 1
    assert pipeline.metrics_url is not None
    metrics = scrape(pipeline.metrics_url)
    assert metrics[("streaminfer_stuck_partitions", ())] == 1.0
    assert metrics[("streaminfer_group_lag", (("partition", "2"), ("topic", topic)))] >= poison
    assert metrics[("streaminfer_autoscaler_target_workers", ())] == 1.0
