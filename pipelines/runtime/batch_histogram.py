"""A Prometheus histogram observed a batch at a time: numpy bins a batch's values in one call,
where prometheus-client's ``Histogram.observe`` costs ~0.6 us per value under its lock (a
worker's end-to-end latencies, one per event; docs/decisions.md, 2026-12-07).

>>> from prometheus_client import CollectorRegistry, generate_latest
>>> registry = CollectorRegistry()
>>> latency = BatchHistogram("wait_seconds", "Waits.", (0.1, 1.0), registry)
>>> latency.observe_many([0.05, 0.1, 0.5, 3.0])
>>> print(generate_latest(registry).decode().split("# TYPE wait_seconds histogram")[1].strip())
wait_seconds_bucket{le="0.1"} 2.0
wait_seconds_bucket{le="1.0"} 3.0
wait_seconds_bucket{le="+Inf"} 4.0
wait_seconds_count 4.0
wait_seconds_sum 3.65
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

import numpy as np
from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.utils import floatToGoString


class BatchHistogram(Collector):
    """Buckets as prometheus-client's ``Histogram`` counts them (a value on a bound is in
    that bound's bucket), registered in ``registry``."""

    def __init__(self, name: str, documentation: str, buckets: Sequence[float],
                 registry: CollectorRegistry) -> None:
        self.name, self.documentation = name, documentation
        self._bounds = np.asarray(buckets, dtype=np.float64)
        self._counts = np.zeros(len(buckets) + 1, dtype=np.int64)  # the last: above them all
        self._sum = 0.0
        self._lock = threading.Lock()  # scrapes read from another thread
        registry.register(self)

    def observe_many(self, values: Sequence[float] | np.ndarray) -> None:
        """Count these values."""
        array = np.asarray(values, dtype=np.float64)
        counts = np.bincount(np.searchsorted(self._bounds, array, side="left"),
                             minlength=len(self._counts))
        total = float(array.sum())
        with self._lock:
            self._counts += counts
            self._sum += total

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            cumulative = np.cumsum(self._counts).tolist()
            total = self._sum
        bounds = [floatToGoString(bound)  # type: ignore[no-untyped-call]
                  for bound in self._bounds.tolist()] + ["+Inf"]
        yield HistogramMetricFamily(self.name, self.documentation,
                                    buckets=list(zip(bounds, cumulative, strict=True)),
                                    sum_value=total)
