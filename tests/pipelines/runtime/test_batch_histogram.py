"""BatchHistogram counts as prometheus-client's own Histogram does, a batch at a time."""

from __future__ import annotations

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Histogram

from streaminfer.pipelines.runtime.batch_histogram import BatchHistogram

BOUNDS = (0.001, 0.0025, 0.01, 0.5, 1, 10)


def _samples(registry: CollectorRegistry) -> dict[tuple[str, str], float]:
    return {(s.name, s.labels.get("le", "")): s.value for family in registry.collect()
            for s in family.samples if not s.name.endswith("_created")}


def test_the_buckets_count_and_sum_are_prometheus_clients() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    batched = BatchHistogram("wait_seconds", "Waits.", BOUNDS, ours)
    single = Histogram("wait_seconds", "Waits.", buckets=BOUNDS, registry=theirs)
    rng = np.random.default_rng(3)
    for size in (0, 1, 256, 7):
        values = np.concatenate([rng.exponential(0.4, size), np.array(BOUNDS)[:size % 7]])
        values[:size // 3] = rng.choice([0.0, *BOUNDS, 99.0], size // 3)  # on the bounds
        batched.observe_many(values)
        for value in values.tolist():
            single.observe(value)
    mine, expected = _samples(ours), _samples(theirs)
    assert mine.keys() == expected.keys()
    for key, value in expected.items():
        assert mine[key] == (value if key[0] != "wait_seconds_sum" else pytest.approx(value)), key
