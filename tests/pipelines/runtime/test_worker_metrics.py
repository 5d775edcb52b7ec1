"""WorkerMetrics: counters per batch, quantiles, and a snapshot that travels through Ray."""

from __future__ import annotations

import pickle
from collections import Counter as Tally

import pytest

from streaminfer.pipelines.runtime.worker_metrics import WorkerMetrics, WorkerStats, quantile

FAMILIES = {
    "streaminfer_events_in", "streaminfer_predictions_out", "streaminfer_dead_letters",
    "streaminfer_batch_size", "streaminfer_inference_seconds",
    "streaminfer_end_to_end_latency_seconds", "streaminfer_consumer_lag",
    "streaminfer_produce_retries",
}


def _two_batches() -> WorkerMetrics:
    metrics = WorkerMetrics("w-1", 4242)
    metrics.record_batch(
        topics=Tally({"events": 3, "other": 1}), predictions=2,
        dead_letters=["invalid_json", "missing_feature"], latencies_ms=[5, 15],
        inference_s=0.002,
    )
    metrics.record_batch(
        topics=Tally({"events": 5}), predictions=4, dead_letters=["invalid_json"],
        latencies_ms=[20, 30, 40, 50], inference_s=0.004,
    )
    return metrics


def test_record_batch_counts_into_the_stats() -> None:
    stats = _two_batches().stats
    assert (stats.worker_id, stats.pid) == ("w-1", 4242)
    assert stats.events_in == 9
    assert stats.predictions == 6
    assert stats.batches == 2
    assert stats.dead_letters == {"invalid_json": 2, "missing_feature": 1}
    assert stats.dead_letter_total == 3


def test_record_batch_counts_into_the_prometheus_families() -> None:
    metrics = _two_batches()
    value = metrics.registry.get_sample_value
    assert value("streaminfer_events_in_total", {"topic": "events"}) == 8
    assert value("streaminfer_events_in_total", {"topic": "other"}) == 1
    assert value("streaminfer_predictions_out_total") == 6
    assert value("streaminfer_dead_letters_total", {"reason": "invalid_json"}) == 2
    assert value("streaminfer_dead_letters_total", {"reason": "missing_feature"}) == 1
    assert value("streaminfer_batch_size_count") == 2
    assert value("streaminfer_batch_size_sum") == 9
    assert value("streaminfer_batch_size_bucket", {"le": "4.0"}) == 1
    assert value("streaminfer_batch_size_bucket", {"le": "8.0"}) == 2
    assert value("streaminfer_inference_seconds_count") == 2
    assert value("streaminfer_inference_seconds_sum") == pytest.approx(0.006)
    assert value("streaminfer_end_to_end_latency_seconds_count") == 6
    assert value("streaminfer_end_to_end_latency_seconds_sum") == pytest.approx(0.160)
    assert value("streaminfer_end_to_end_latency_seconds_bucket", {"le": "0.01"}) == 1


def test_a_batch_the_model_failed_on_is_counted() -> None:
    metrics = WorkerMetrics("w", 1)
    metrics.record_batch(topics=Tally({"t": 2}), predictions=2, dead_letters=[],
                         latencies_ms=[1, 1], inference_s=0.0)
    metrics.record_batch(topics=Tally({"t": 2}), predictions=1, dead_letters=["model_error"],
                         latencies_ms=[1], inference_s=0.0, model_batch_failed=True)
    assert metrics.stats.model_batch_failures == 1
    assert metrics.registry.get_sample_value("streaminfer_model_batch_failures_total") == 1


def test_retries_commit_failures_lag_and_assignment() -> None:
    metrics = WorkerMetrics("w", 1)
    metrics.record_retry()
    metrics.record_retry()
    metrics.record_commit_failure()
    metrics.record_lag({("events", 0): 10, ("events", 1): 0})
    metrics.record_lag({("events", 1): 7})  # partition 0 was revoked meanwhile
    metrics.record_assignment([("events", 1), ("alpha", 3), ("events", 0)])
    stats = metrics.stats
    assert stats.produce_retries == 2
    assert stats.commit_failures == 1
    assert stats.lag == {"events/1": 7}
    assert stats.assigned == ["alpha/3", "events/0", "events/1"]
    metrics.record_revocation([("events", 0), ("alpha", 3)])
    assert metrics.stats.assigned == ["events/1"]
    metrics.record_assignment([("events", 1), ("alpha", 3), ("events", 0)])
    value = metrics.registry.get_sample_value
    assert value("streaminfer_produce_retries_total") == 2
    assert value("streaminfer_consumer_lag", {"topic": "events", "partition": "1"}) == 7
    assert value("streaminfer_consumer_lag", {"topic": "events", "partition": "0"}) is None


@pytest.mark.parametrize(
    ("q", "expected"), [(0.0, 1.0), (0.01, 1.0), (0.5, 50.0), (0.99, 99.0), (1.0, 100.0)]
)
def test_quantile_by_nearest_rank(q: float, expected: float) -> None:
    samples = list(range(100, 0, -1))  # 100..1, unsorted on purpose
    assert quantile(samples, q) == expected
    assert samples[0] == 100  # the input is not sorted in place


def test_quantile_of_few_samples() -> None:
    assert quantile([], 0.5) is None
    assert quantile([7], 0.0) == 7.0 and quantile([7], 1.0) == 7.0
    assert quantile([3, 1, 2, 4], 0.5) == 2.0
    assert quantile([3, 1, 2, 4], 0.75) == 3.0
    assert isinstance(quantile([3], 0.5), float)


def test_snapshot_is_a_copy_with_the_recent_latencies_and_families() -> None:
    metrics = _two_batches()
    snap = metrics.snapshot(running=True)
    assert snap.running is True
    assert (snap.events_in, snap.predictions, snap.batches) == (9, 6, 2)
    assert snap.recent_latency_ms == [5, 15, 20, 30, 40, 50]
    assert snap.latency_ms(0.5) == 20.0
    assert {family.name for family in snap.families} >= FAMILIES

    snap.dead_letters["invalid_json"] = 99
    metrics.record_batch(topics=Tally({"events": 1}), predictions=1, dead_letters=[],
                         latencies_ms=[60], inference_s=0.001)
    assert metrics.stats.dead_letters["invalid_json"] == 2
    assert snap.events_in == 9 and snap.recent_latency_ms[-1] == 50
    assert metrics.snapshot(running=False).running is False


def test_recent_latencies_keep_only_the_last_1024() -> None:
    metrics = WorkerMetrics("w", 1)
    latencies = list(range(1500))
    metrics.record_batch(topics=Tally({"t": 1500}), predictions=1500, dead_letters=[],
                         latencies_ms=latencies, inference_s=0.01)
    assert metrics.snapshot(running=True).recent_latency_ms == latencies[-1024:]


def test_snapshot_survives_pickling() -> None:
    snap = _two_batches().snapshot(running=True)
    back = pickle.loads(pickle.dumps(snap))
    assert isinstance(back, WorkerStats)
    assert back.dead_letters == snap.dead_letters
    assert back.recent_latency_ms == snap.recent_latency_ms

    def samples(stats: WorkerStats) -> list[tuple[str, dict[str, str], float]]:
        return [(s.name, s.labels, s.value) for f in stats.families for s in f.samples]

    assert samples(back) == samples(snap)
    assert ("streaminfer_events_in_total", {"topic": "events"}, 8.0) in samples(back)
