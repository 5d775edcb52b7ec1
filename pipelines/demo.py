"""``streaminfer demo``: the demo pipeline on the embedded broker, fed by a replay of the
breast-cancer dataset, watched live from its output topics.

The demo checks its own books: every event it produced must come back exactly once, as a
prediction or (for the malformed events it injects on purpose) as a dead letter.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from kafka import KafkaProducer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from streaminfer.api import Pipeline
from streaminfer.operators.metrics import quantile
from streaminfer.operators.topic_reader import TopicReader
from streaminfer.pipelines.example_models import EXAMPLES, build
from streaminfer.pipelines.kafka_settings import client_config
from streaminfer.pipelines.live_view import RateMeter, stats_table
from streaminfer.pipelines.spec_loader import load_spec

#: Malformed events the generator slips in, one kind after the other.
BAD_EVENTS = (
    b'{"id": "%s", "mean_radius": ',                       # invalid JSON
    b'{"id": "%s", "note": "no features at all"}',          # missing features
    b'{"id": "%s", "mean_radius": "large"}',                # non-numeric
    b'["%s", "an array, not an object"]',                   # not an object
)


class EventGenerator(threading.Thread):
    """Replays dataset rows with small noise at ``rate`` events/s, keyed by event id."""

    def __init__(
        self, config: dict[str, Any], topic: str, features: list[str], rows: np.ndarray, *,
        rate: float, count: int | None, bad_every: int, seed: int = 0,
    ) -> None:
        super().__init__(name="demo-generator", daemon=True)
        self._producer = KafkaProducer(**config, acks="all", linger_ms=5)
        self.topic, self.features, self.rows = topic, features, rows
        self.rate, self.count, self.bad_every = rate, count, bad_every
        self._rng = np.random.default_rng(seed)
        self.stop_event = threading.Event()
        self.sent = 0
        self.bad_keys: set[bytes] = set()
        self.started_at = 0.0
        self.error: BaseException | None = None

    def event(self, index: int) -> tuple[bytes, bytes, bool]:
        """Key, value and whether it is malformed, for the ``index``-th event."""
        event_id = f"evt-{index:08d}"
        key = event_id.encode()
        if self.bad_every and index % self.bad_every == self.bad_every - 1:
            template = BAD_EVENTS[(index // self.bad_every) % len(BAD_EVENTS)]
            return key, template % key, True
        row = self.rows[index % len(self.rows)]
        noisy = row * (1.0 + self._rng.normal(0.0, 0.01, size=row.shape))
        event: dict[str, Any] = {"id": event_id, "ts": int(time.time() * 1000)}
        event.update(zip(self.features, noisy.tolist(), strict=True))
        return key, orjson.dumps(event), False

    def run(self) -> None:
        self.started_at = time.monotonic()
        try:
            index = 0
            while not self.stop_event.is_set() and (self.count is None or index < self.count):
                due = self.started_at + index / self.rate
                delay = due - time.monotonic()
                if delay > 0 and self.stop_event.wait(delay):
                    break
                key, value, bad = self.event(index)
                self._producer.send(self.topic, key=key, value=value)
                if bad:
                    self.bad_keys.add(key)
                index += 1
                self.sent = index
            self._producer.flush()
        except BaseException as exc:  # reported by the demo, not lost in a thread
            self.error = exc
        finally:
            self._producer.close()


@dataclass
class Outcomes:
    """What came back on the predictions and dead-letter topics, by event key."""

    predicted: dict[bytes, int] = field(default_factory=dict)
    dead: dict[bytes, int] = field(default_factory=dict)
    latencies_ms: list[int] = field(default_factory=list)
    samples: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=5))
    last_at: float = 0.0

    @property
    def accounted(self) -> int:
        return len(self.predicted) + len(self.dead)

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for n in self.predicted.values()) + sum(n - 1 for n in self.dead.values())


class OutcomeCollector(threading.Thread):
    """Reads both output topics from the start, outside the pipeline's consumer group."""

    def __init__(self, config: dict[str, Any], predictions_topic: str, dead_topic: str) -> None:
        super().__init__(name="demo-collector", daemon=True)
        self.reader = TopicReader(config, [predictions_topic, dead_topic])
        self.dead_topic = dead_topic
        self.outcomes = Outcomes()
        self.lock = threading.Lock()
        self.stop_event = threading.Event()

    def run(self) -> None:
        try:
            while not self.stop_event.is_set():
                records = self.reader.poll(timeout_ms=100)
                if records:
                    self._add(records)
        finally:
            self.reader.close()

    def _add(self, records: list[Any]) -> None:
        with self.lock:
            out = self.outcomes
            for record in records:
                key = record.key or b""
                if record.topic == self.dead_topic:
                    out.dead[key] = out.dead.get(key, 0) + 1
                    continue
                out.predicted[key] = out.predicted.get(key, 0) + 1
                value = orjson.loads(record.value)
                out.latencies_ms.append(value["latency_ms"])
                out.samples.append(value)
            out.last_at = time.monotonic()


@dataclass
class Summary:
    events: int
    predictions: int
    dead_letters: int
    bad_injected: int
    duplicates: int
    missing: int
    events_per_s: float
    p50_ms: float | None
    p99_ms: float | None

    @property
    def adds_up(self) -> bool:
        return (self.missing == 0 and self.duplicates == 0
                and self.dead_letters == self.bad_injected
                and self.predictions + self.dead_letters == self.events)


def summarize(generator: EventGenerator, outcomes: Outcomes) -> Summary:
    seen = set(outcomes.predicted) | set(outcomes.dead)
    elapsed = max(1e-9, (outcomes.last_at or time.monotonic()) - generator.started_at)
    return Summary(
        events=generator.sent, predictions=len(outcomes.predicted),
        dead_letters=len(outcomes.dead), bad_injected=len(generator.bad_keys),
        duplicates=outcomes.duplicates, missing=max(0, generator.sent - len(seen)),
        events_per_s=round(outcomes.accounted / elapsed, 1),
        p50_ms=quantile(outcomes.latencies_ms, 0.5), p99_ms=quantile(outcomes.latencies_ms, 0.99),
    )


def _view(pipeline: Pipeline, generator: EventGenerator, collector: OutcomeCollector,
          meter: RateMeter) -> Group:
    with collector.lock:
        out = collector.outcomes
        rate = meter.update(out.accounted)
        recent = out.latencies_ms[-2000:]
        samples = list(out.samples)
        head = Table(title="streaminfer demo: breast-cancer scoring", title_justify="left")
        for column in ("produced", "predictions", "dead letters", "events/s", "p50 ms", "p99 ms"):
            head.add_column(column, justify="right")
        p50, p99 = quantile(recent, 0.5), quantile(recent, 0.99)
        head.add_row(f"{generator.sent:,}", f"{len(out.predicted):,}", f"{len(out.dead):,}",
                     f"{rate:,.0f}", "-" if p50 is None else f"{p50:.0f}",
                     "-" if p99 is None else f"{p99:.0f}")
    preds = Table(title="latest predictions", title_justify="left")
    for column in ("id", "label", "P(benign)", "latency ms", "partition/offset"):
        preds.add_column(column)
    for p in samples:
        src = p["source"]
        preds.add_row(str(p["id"]), "benign" if p["label"] == 1 else "malignant",
                      f"{p['probabilities'][1]:.3f}", str(p["latency_ms"]),
                      f"{src['partition']}/{src['offset']}")
    workers = stats_table("workers", pipeline.stats(), rate)
    return Group(head, preds, workers)


def run_demo(
    config_path: Path, *, events: int | None, rate: float, bad_every: int,
    workers: int | None = None, console: Console | None = None,
) -> int:
    """Run the demo; with ``events`` it stops by itself and returns 0 only if all add up."""
    console = console or Console()
    spec = load_spec(config_path).with_overrides(workers=workers)
    model_path = spec.model_specs[0].path
    model_dir = model_path.parent
    if not model_path.exists():
        console.print(f"training the demo model into {model_dir} ...")
        build("breast_cancer", model_dir)
    dataset = EXAMPLES["breast_cancer"].dataset()
    pipeline = Pipeline(spec)
    console.print(f"starting pipeline {spec.name} (embedded broker, Ray, "
                  f"{spec.workers.count} workers) ...")
    pipeline.start()
    generator = collector = None
    summary: Summary | None = None
    try:
        pipeline.wait_ready()
        config = client_config(spec.kafka, pipeline.bootstrap_servers)
        console.print(f"kafka {pipeline.bootstrap_servers}; metrics {pipeline.metrics_url}; "
                      "Ctrl-C stops")
        collector = OutcomeCollector(config, spec.sink.predictions_topic,
                                     spec.sink.dead_letter_topic)
        generator = EventGenerator(config, spec.source.topics[0], dataset.features, dataset.X,
                                   rate=rate, count=events, bad_every=bad_every)
        collector.start()
        generator.start()
        meter = RateMeter()
        with Live(console=console, auto_refresh=False) as live:
            try:
                while not _done(generator, collector, events):
                    live.update(_view(pipeline, generator, collector, meter), refresh=True)
                    if generator.error is not None:
                        raise generator.error
                    collector.stop_event.wait(0.5)
                live.update(_view(pipeline, generator, collector, meter), refresh=True)
            except KeyboardInterrupt:
                console.print("stopping: finishing open batches ...")
    finally:
        if generator is not None:
            generator.stop_event.set()
            generator.join()
        pipeline.stop()
        if collector is not None:
            collector.stop_event.set()
            collector.join()
            if generator is not None:
                summary = summarize(generator, collector.outcomes)
    if summary is None:
        return 1
    _print_summary(console, summary, bounded=events is not None)
    return 0 if summary.adds_up or events is None else 1


STALL_S = 60.0


def _done(generator: EventGenerator, collector: OutcomeCollector, events: int | None) -> bool:
    if events is None:
        return False
    with collector.lock:
        accounted = collector.outcomes.accounted
        last = collector.outcomes.last_at
    if accounted >= events:
        return True
    quiet_for = time.monotonic() - max(last, generator.started_at)
    return generator.sent >= events and quiet_for > STALL_S


def _print_summary(console: Console, s: Summary, *, bounded: bool) -> None:
    table = Table(title="demo summary", title_justify="left")
    table.add_column("measure")
    table.add_column("value", justify="right")
    rows = [
        ("events produced", f"{s.events:,}"), ("predictions", f"{s.predictions:,}"),
        ("dead letters", f"{s.dead_letters:,} (injected bad: {s.bad_injected:,})"),
        ("duplicates", f"{s.duplicates:,}"), ("missing", f"{s.missing:,}"),
        ("events/s", f"{s.events_per_s:,.0f}"),
        ("p50 latency ms", "-" if s.p50_ms is None else f"{s.p50_ms:.0f}"),
        ("p99 latency ms", "-" if s.p99_ms is None else f"{s.p99_ms:.0f}"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    if s.adds_up:
        console.print("[green]all events accounted for[/green]")
    elif bounded:
        console.print("[red]the numbers do not add up[/red]")
    else:
        console.print(f"{s.missing:,} events were still unscored when stopped "
                      "(they stay in the topic)")
    console.print_json(orjson.dumps(s.__dict__ | {"adds_up": s.adds_up}).decode())
