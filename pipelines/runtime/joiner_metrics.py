"""A joiner's counters: Prometheus families in its own registry, and a snapshot for the driver.

Like a source worker's (``pipelines/runtime/worker_metrics.py``): the driver gathers every
joiner's families and serves them on its one endpoint with a ``worker`` label holding the
joiner's name.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from streaminfer.operators.join_state import CASES
from streaminfer.operators.live_window import Key, Row
from streaminfer.operators.metric_names import (
    EXAMPLES_OUT,
    JOINS,
    PENDING,
    UNMATCHED_OUT,
)
from streaminfer.operators.metric_names import FEEDBACK_INVALID as INVALID
from streaminfer.operators.metric_names import FEEDBACK_RECORDS_IN as RECORDS_IN
from streaminfer.operators.metric_names import FEEDBACK_RETRIES as RETRIES


@dataclass
class JoinerStats:
    """A joiner's counters at one moment (sent to the driver through Ray)."""

    joiner_id: str
    partitions: list[int] = field(default_factory=list)
    cases: dict[str, int] = field(default_factory=dict)
    records_in: dict[str, int] = field(default_factory=dict)
    invalid: dict[str, int] = field(default_factory=dict)
    examples_out: int = 0
    unmatched_out: int = 0
    pending: dict[str, int] = field(default_factory=dict)
    produce_retries: int = 0
    running: bool = True
    window: dict[Key, list[Row]] = field(default_factory=dict)
    families: list[Any] = field(default_factory=list)
    pid: int = 0
    started_at: float = 0.0  # with pid: this run of the joiner (a restart is a new one)
    node_id: str = ""  # the Ray node this run is on (set by the actor shell)
    #: Why the loop crashed, told before its process ends (``None``: it did not).
    crashed: str | None = None

    @property
    def matched(self) -> int:
        return self.cases.get("label_after_prediction", 0) + self.cases.get(
            "label_before_prediction", 0)


class JoinerMetrics:
    """The Prometheus families of one joiner, set from its counters after each flush."""

    def __init__(self, joiner_id: str, partitions: list[int]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._joins = Counter(JOINS, "Predictions and labels by how the joiner handled them.",
                              ["case"], registry=self.registry)
        self._records = Counter(RECORDS_IN, "Records read, by side (prediction, label).",
                                ["side"], registry=self.registry)
        self._invalid = Counter(INVALID, "Records that could not be read (not JSON, no id, "
                                "no label), by side.", ["side"], registry=self.registry)
        self._examples = Counter(EXAMPLES_OUT, "Labelled examples acknowledged by the broker.",
                                 registry=self.registry)
        self._unmatched = Counter(UNMATCHED_OUT, "Expired predictions published to "
                                  "feedback.unmatched_topic.", registry=self.registry)
        self._pending = Gauge(PENDING, "Entries waiting for their other half, by side.",
                              ["side"], registry=self.registry)
        self._retries = Counter(RETRIES, "Flushes produced again after the broker refused.",
                                registry=self.registry)
        for case in CASES:
            self._joins.labels(case)
        for side in ("prediction", "label"):
            self._records.labels(side)
            self._invalid.labels(side)
        self.stats = JoinerStats(joiner_id, list(partitions), cases=dict.fromkeys(CASES, 0),
                                 records_in={"prediction": 0, "label": 0},
                                 invalid={"prediction": 0, "label": 0},
                                 pid=os.getpid(), started_at=time.time())

    def record_read(self, side: str, count: int, invalid: int) -> None:
        self._records.labels(side).inc(count)
        self.stats.records_in[side] += count
        if invalid:
            self._invalid.labels(side).inc(invalid)
            self.stats.invalid[side] += invalid

    def record_flush(self, *, examples: int, unmatched: int, cases: Mapping[str, int],
                     pending: Mapping[str, int]) -> None:
        """Count what one acknowledged flush delivered, and the state after it."""
        stats = self.stats
        self._examples.inc(examples)
        self._unmatched.inc(unmatched)
        stats.examples_out += examples
        stats.unmatched_out += unmatched
        for case, total in cases.items():
            grown = total - stats.cases.get(case, 0)
            if grown > 0:
                self._joins.labels(case).inc(grown)
            stats.cases[case] = total
        for side, count in pending.items():
            self._pending.labels(side).set(count)
        stats.pending = dict(pending)

    def record_retry(self) -> None:
        self._retries.inc()
        self.stats.produce_retries += 1

    def snapshot(self, *, running: bool, window: dict[Key, list[Row]],
                 families: bool) -> JoinerStats:
        s = self.stats
        return JoinerStats(
            s.joiner_id, list(s.partitions), dict(s.cases), dict(s.records_in), dict(s.invalid),
            s.examples_out, s.unmatched_out, dict(s.pending), s.produce_retries, running,
            window, list(self.registry.collect()) if families else [], pid=s.pid,
            started_at=s.started_at,
        )
