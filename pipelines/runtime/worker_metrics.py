"""Worker metrics: Prometheus families in a registry of the worker's own, plus a snapshot.

Each worker process keeps its own registry; the driver gathers the families from every
worker (see ``pipelines/metrics_server.py``) and serves them on one port with a ``worker``
label, so Prometheus scrapes one endpoint however many actors run.
"""

from __future__ import annotations

import math
import time
from collections import Counter as Tally
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from streaminfer.operators import metric_names as names
from streaminfer.pipelines.runtime.batch_histogram import BatchHistogram

_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384)
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_RECENT = 1024


@dataclass
class WorkerStats:
    """A worker's counters at one moment (sent to the driver through Ray)."""

    worker_id: str
    pid: int
    events_in: int = 0
    predictions: int = 0
    dead_letters: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    produce_retries: int = 0
    commit_failures: int = 0
    model_batch_failures: int = 0
    #: Texts cut to the tokenizer's max_length (model.tokenizer).
    truncated_texts: int = 0
    lag: dict[str, int] = field(default_factory=dict)
    assigned: list[str] = field(default_factory=list)
    recent_latency_ms: list[int] = field(default_factory=list)
    started_at: float = 0.0
    node_id: str = ""  # the Ray node this run is on (set by the actor shell)
    first_batch_at: float | None = None
    last_batch_at: float | None = None
    running: bool = True
    families: list[Any] = field(default_factory=list)
    #: Cumulative drift bin counts per (model, version) (``operators.drift.BinCounts``).
    drift: dict[tuple[str, str], Any] = field(default_factory=dict)
    #: Per (model, shadow version): [rows compared with the served output, rows agreeing].
    shadow: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    #: Why the loop crashed (``KeyError: 'x' (in operators/y.py)``), told before its process
    #: ends and Ray restarts it (``pipelines/runtime/loop_actor.py``).
    crashed: str | None = None

    @property
    def dead_letter_total(self) -> int:
        return sum(self.dead_letters.values())

    def latency_ms(self, q: float) -> float | None:
        """A quantile of the recent end-to-end latencies."""
        return quantile(self.recent_latency_ms, q)


def quantile(samples: list[int], q: float) -> float | None:
    """The ``q`` quantile (0..1) of ``samples`` by nearest rank; ``None`` when empty."""
    if not samples:
        return None
    ordered = sorted(samples)
    return float(ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))])


class WorkerMetrics:
    """Counters, histograms and gauges of one worker, updated once per batch."""

    def __init__(self, worker_id: str, pid: int) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._events = Counter(
            names.EVENTS_IN, "Events read from the source topics.", ["topic"],
            registry=self.registry,
        )
        self._predictions = Counter(
            names.PREDICTIONS_OUT, "Predictions acknowledged by the broker.",
            registry=self.registry,
        )
        self._dead = Counter(
            names.DEAD_LETTERS, "Events sent to the dead-letter topic.", ["reason"],
            registry=self.registry,
        )
        self._batch = Histogram(
            names.BATCH_SIZE, "Events per micro-batch.", buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self._inference = Histogram(
            names.INFERENCE_SECONDS, "Model run time per micro-batch.",
            buckets=_LATENCY_BUCKETS, registry=self.registry,
        )
        self._latency = BatchHistogram(
            names.END_TO_END_LATENCY,
            "From the source record's timestamp to its prediction being produced.",
            _LATENCY_BUCKETS, self.registry,
        )
        self._lag = Gauge(
            names.CONSUMER_LAG, "Records not yet read, per assigned partition.",
            ["topic", "partition"], registry=self.registry,
        )
        self._model_failures = Counter(
            names.MODEL_BATCH_FAILURES,
            "Micro-batches the model failed on as a whole, then scored row by row.",
            registry=self.registry,
        )
        self._retries = Counter(
            names.PRODUCE_RETRIES, "Batches produced again after the broker refused.",
            registry=self.registry,
        )
        self._truncated = Counter(
            names.TEXTS_TRUNCATED,
            "Texts cut to the tokenizer's max_length before scoring (model.tokenizer).",
            registry=self.registry,
        )
        self.stats = WorkerStats(worker_id=worker_id, pid=pid, started_at=time.time())
        self._recent: deque[int] = deque(maxlen=_RECENT)

    def record_batch(
        self, *, topics: Tally[str], predictions: int, dead_letters: list[str],
        latencies_ms: list[int], inference_s: float, model_batch_failed: bool = False,
        truncated_texts: int = 0,
    ) -> None:
        """Count one batch whose records were all acknowledged and committed."""
        size = sum(topics.values())
        for topic, count in topics.items():
            self._events.labels(topic).inc(count)
        self._predictions.inc(predictions)
        reasons = Tally(dead_letters)
        for reason, count in reasons.items():
            self._dead.labels(reason).inc(count)
        self._batch.observe(size)
        self._inference.observe(inference_s)
        if latencies_ms:
            self._latency.observe_many(np.asarray(latencies_ms, dtype=np.float64) / 1000.0)
        self._recent.extend(latencies_ms)
        stats = self.stats
        if model_batch_failed:
            self._model_failures.inc()
            stats.model_batch_failures += 1
        if truncated_texts:
            self._truncated.inc(truncated_texts)
            stats.truncated_texts += truncated_texts
        stats.events_in += size
        stats.predictions += predictions
        stats.batches += 1
        stats.last_batch_at = time.time()
        if stats.first_batch_at is None:
            stats.first_batch_at = stats.last_batch_at
        for reason, count in reasons.items():
            stats.dead_letters[reason] = stats.dead_letters.get(reason, 0) + count

    def record_retry(self) -> None:
        self._retries.inc()
        self.stats.produce_retries += 1

    def record_commit_failure(self) -> None:
        self.stats.commit_failures += 1

    def record_lag(self, lag: dict[tuple[str, int], int]) -> None:
        self._lag.clear()
        for (topic, partition), value in lag.items():
            self._lag.labels(topic, str(partition)).set(value)
        self.stats.lag = {f"{topic}/{part}": value for (topic, part), value in lag.items()}

    def record_assignment(self, partitions: list[tuple[str, int]]) -> None:
        self.stats.assigned = sorted(f"{topic}/{partition}" for topic, partition in partitions)

    def record_revocation(self, partitions: list[tuple[str, int]]) -> None:
        """These partitions are no longer this worker's (a rebalance is under way)."""
        gone = {f"{topic}/{partition}" for topic, partition in partitions}
        self.stats.assigned = [tp for tp in self.stats.assigned if tp not in gone]

    def snapshot(self, *, running: bool, families: bool = True) -> WorkerStats:
        """A copy of the stats with the recent latencies and (if asked) the Prometheus
        families."""
        stats = self.stats
        return WorkerStats(
            worker_id=stats.worker_id, pid=stats.pid, events_in=stats.events_in,
            predictions=stats.predictions, dead_letters=dict(stats.dead_letters),
            batches=stats.batches, produce_retries=stats.produce_retries,
            commit_failures=stats.commit_failures,
            model_batch_failures=stats.model_batch_failures,
            truncated_texts=stats.truncated_texts, lag=dict(stats.lag),
            assigned=list(stats.assigned),
            recent_latency_ms=list(self._recent), started_at=stats.started_at,
            first_batch_at=stats.first_batch_at, last_batch_at=stats.last_batch_at,
            running=running, families=list(self.registry.collect()) if families else [],
        )
