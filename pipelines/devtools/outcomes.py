"""What came back from the demo pipeline: each event's outcome, duplicates, latencies.

:class:`OutcomeCollector` reads the predictions and dead-letter topics and keeps
:class:`Outcomes`, so the demo can check every event came back exactly once.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from streaminfer.errors import BrokerError
from streaminfer.pipelines.kafka.topic_reader import TopicReader

log = logging.getLogger(__name__)

#: How often the collector reads the output topics.
READ_EVERY_S = 1.0

#: How many of the latest predictions' classes are kept (:attr:`Outcomes.recent_classes`).
RECENT = 500

#: Latencies are counted in 1 ms buckets up to this (longer ones in the last bucket).
MAX_LATENCY_MS = 120_000


def event_index(key: bytes) -> int:
    """The generator's running number of an event, from its key (``evt-00001234``)."""
    return int(key[4:])


class Tally:
    """How many times each event came back on one topic: one byte per event, so a demo left
    running for hours keeps its books in a few MB."""

    def __init__(self) -> None:
        self.counts = bytearray()
        self.unique = 0
        self.duplicates = 0

    def add(self, index: int) -> None:
        if index >= len(self.counts):
            self.counts.extend(bytes(max(index + 1 - len(self.counts), 1 << 16)))
        seen = self.counts[index]
        if seen:
            self.duplicates += 1
        else:
            self.unique += 1
        self.counts[index] = min(seen + 1, 255)


def seen_in_either(a: Tally, b: Tally) -> int:
    """Events that came back at least once on either topic."""
    size = max(len(a.counts), len(b.counts))
    seen = np.zeros(size, np.uint8)
    for tally in (a, b):
        seen[: len(tally.counts)] |= np.frombuffer(tally.counts, np.uint8)
    return int(np.count_nonzero(seen))


def histogram_quantile(histogram: np.ndarray, q: float) -> float | None:
    """The ``q`` quantile by nearest rank of values counted in 1-wide buckets from 0."""
    total = int(histogram.sum())
    if total == 0:
        return None
    rank = max(1, math.ceil(q * total))
    return float(np.searchsorted(np.cumsum(histogram), rank))


@dataclass
class Outcomes:
    """What came back on the predictions and dead-letter topics, per event."""

    predicted: Tally = field(default_factory=Tally)
    dead: Tally = field(default_factory=Tally)
    latency_histogram: np.ndarray = field(
        default_factory=lambda: np.zeros(MAX_LATENCY_MS + 1, np.int64))
    recent_latencies_ms: deque[int] = field(default_factory=lambda: deque(maxlen=2000))
    samples: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=5))
    #: The predicted classes, all and the most recent (when the collector counts them).
    classes: Counter[Any] = field(default_factory=Counter)
    recent_classes: deque[Any] = field(default_factory=lambda: deque(maxlen=RECENT))
    last_at: float = 0.0

    @property
    def accounted(self) -> int:
        return self.predicted.unique + self.dead.unique

    @property
    def duplicates(self) -> int:
        return self.predicted.duplicates + self.dead.duplicates

    def add_latency(self, latency_ms: int) -> None:
        self.latency_histogram[min(max(latency_ms, 0), MAX_LATENCY_MS)] += 1
        self.recent_latencies_ms.append(latency_ms)


class OutcomeCollector(threading.Thread):
    """Reads both output topics from the start, outside the pipeline's consumer group;
    with ``label_field``, counts the classes the predictions name there."""

    def __init__(self, config: dict[str, Any], predictions_topic: str, dead_topic: str, *,
                 label_field: str | None = None) -> None:
        super().__init__(name="demo-collector", daemon=True)
        self.reader = TopicReader(config, [predictions_topic, dead_topic])
        self.dead_topic, self.label_field = dead_topic, label_field
        self.outcomes = Outcomes()
        self.lock = threading.Lock()
        self.stop_event = threading.Event()

    def run(self) -> None:
        try:
            while True:
                records = self.reader.poll(timeout_ms=100)
                if records:
                    self._add(records)
                # Caught up: read again in a second. Each prediction carries its own latency,
                # so this changes no number, and it saves the embedded broker most listings
                # of each partition (it lists every batch a partition holds on each read).
                if len(records) < self.reader.max_records and self.stop_event.wait(
                    READ_EVERY_S
                ):
                    break
            # Stopped once the pipeline has: what it wrote since the last read is counted
            # too, or the books would call it missing.
            self._add(self.reader.read_to_end())
        except BrokerError as exc:
            log.warning("the demo's books may count events as missing: %s", exc)
        finally:
            self.reader.close()

    def _add(self, records: list[Any]) -> None:
        with self.lock:
            out = self.outcomes
            for record in records:
                index = event_index(record.key or b"")
                if record.topic == self.dead_topic:
                    out.dead.add(index)
                    continue
                out.predicted.add(index)
                value = orjson.loads(record.value)
                out.add_latency(value["latency_ms"])
                out.samples.append(value)
                if self.label_field is not None:
                    label = value.get(self.label_field)
                    out.classes[label] += 1
                    out.recent_classes.append(label)
            out.last_at = time.monotonic()
