"""The demo's books: one byte per event, latencies in a histogram (pure logic)."""

import numpy as np

from streaminfer.pipelines.devtools.outcomes import (
    Outcomes,
    Tally,
    event_index,
    histogram_quantile,
    seen_in_either,
)
from streaminfer.pipelines.runtime.worker_metrics import quantile


def test_tally_counts_unique_events_and_duplicates():
    tally = Tally()
    for index in (3, 70_000, 3, 5, 3):
        tally.add(index)
    assert (tally.unique, tally.duplicates) == (3, 2)
    assert tally.counts[3] == 3 and len(tally.counts) > 70_000


def test_seen_in_either_counts_an_event_once_across_both_topics():
    predicted, dead = Tally(), Tally()
    for index in (0, 1, 2):
        predicted.add(index)
    for index in (2, 99_999):
        dead.add(index)
    assert seen_in_either(predicted, dead) == 4


def test_histogram_quantiles_equal_nearest_rank_quantiles_of_the_samples():
    samples = np.random.default_rng(1).integers(0, 2_000, size=5_001).tolist()
    outcomes = Outcomes()
    for value in samples:
        outcomes.add_latency(value)
    for q in (0.0, 0.5, 0.9, 0.99, 1.0):
        assert histogram_quantile(outcomes.latency_histogram, q) == quantile(samples, q)
    assert histogram_quantile(np.zeros(10, np.int64), 0.5) is None
    assert list(outcomes.recent_latencies_ms) == samples[-2000:]


def test_event_index_reads_the_generators_running_number():
    assert event_index(b"evt-00001234") == 1234
