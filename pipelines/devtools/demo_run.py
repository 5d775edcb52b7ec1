"""What every demo shares (the tabular demo's rows, the pictures demo's fruit): a paced
event generator fed by a :class:`Feed`, the labels that follow, the pipeline, its books
read back from the output topics, the live screen's common tables, the drain on a signal
and the summary.

The demo checks its own books: every event it produced must come back exactly once, as a
prediction or (for the malformed events it injects on purpose) as a dead letter.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
import psutil
from rich.console import Console, RenderableType
from rich.table import Table

from streaminfer.operators.profile import profile_path
from streaminfer.pipelines.devtools.demo_labels import LabelSender
from streaminfer.pipelines.devtools.example_models import build
from streaminfer.pipelines.devtools.outcomes import (
    RECENT,
    OutcomeCollector,
    Outcomes,
    histogram_quantile,
    seen_in_either,
)
from streaminfer.pipelines.kafka.embedded_broker import PRODUCER_SETTINGS
from streaminfer.pipelines.kafka.factory import new_producer
from streaminfer.pipelines.online.live_view import (
    RateMeter,
    drift_table,
    live_display,
    live_table,
    stats_table,
)
from streaminfer.pipelines.online.pipeline import Pipeline
from streaminfer.pipelines.online.stall import StallWatch, stall_message
from streaminfer.pipelines.process.stop_signals import StopSignals
from streaminfer.pipelines.runtime.stats import PipelineStats
from streaminfer.pipelines.spec.kafka_settings import client_config
from streaminfer.pipelines.spec.schema import PipelineSpec
from streaminfer.waiting import wait_until

#: A bounded demo whose output stayed quiet this long after the last event gives up.
GIVE_UP_AFTER_S = 60.0

#: The embedded broker keeps every record in memory (the demo: ~40-95 MB a minute): past this
#: much resident memory the demo stops, drains and prints its books (``--broker-memory-cap-mb``).
BROKER_MEMORY_CAP_MB = 4096.0


@dataclass(frozen=True)
class Event:
    """One event a feed makes: its key (``evt-<index>``), value, whether it is malformed on
    purpose, and its true class (sent to the labels topic later; ``None``: no label)."""

    key: bytes
    value: bytes
    bad: bool = False
    label: Any = None


class Feed(Protocol):
    """What a demo streams."""

    #: The example model (``example_models.EXAMPLES``) trained when the model file is missing.
    model: str
    #: The event index its input shifts at (``None``: never), and what the shift is.
    shift_from: int | None
    shift_note: str

    def event(self, index: int) -> Event: ...


def event_key(index: int) -> bytes:
    """The key (and id) of the ``index``-th event (``outcomes.event_index`` reads it back)."""
    return f"evt-{index:08d}".encode()


class EventGenerator(threading.Thread):
    """Sends ``feed``'s events at ``rate`` events/s, keyed by event id, and schedules each
    labelled one's label on ``labels``.

    It sends through :data:`~streaminfer.pipelines.kafka.embedded_broker.PRODUCER_SETTINGS`: few,
    large, compressed record batches, which the embedded broker can keep up with for hours.
    """

    def __init__(self, config: dict[str, Any], topic: str, feed: Feed, *, rate: float,
                 count: int | None, labels: LabelSender | None = None) -> None:
        super().__init__(name="demo-generator", daemon=True)
        self._producer = new_producer(config, **PRODUCER_SETTINGS)
        self.topic, self.feed, self.rate, self.count = topic, feed, rate, count
        self.labels = labels
        self.stop_event = threading.Event()
        self.sent = 0
        self.bad_sent = 0
        self.started_at = 0.0
        self.error: BaseException | None = None

    @property
    def shifted(self) -> bool:
        """Whether the feed's shift has begun."""
        return self.feed.shift_from is not None and self.sent > self.feed.shift_from

    def run(self) -> None:
        self.started_at = time.monotonic()
        try:
            index = 0
            while not self.stop_event.is_set() and (self.count is None or index < self.count):
                due = self.started_at + index / self.rate
                delay = due - time.monotonic()
                if delay > 0 and self.stop_event.wait(delay):
                    break
                event = self.feed.event(index)
                if self.labels is not None and event.label is not None:
                    self.labels.schedule(event.key.decode(), event.label)
                self._producer.send(self.topic, key=event.key, value=event.value)
                self.bad_sent += event.bad
                index += 1
                self.sent = index
            self._producer.flush()
        except BaseException as exc:  # reported by the demo, not lost in a thread
            self.error = exc
        finally:
            self._producer.close()


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
    seen = seen_in_either(outcomes.predicted, outcomes.dead)
    elapsed = max(1e-9, (outcomes.last_at or time.monotonic()) - generator.started_at)
    latencies = outcomes.latency_histogram
    return Summary(
        events=generator.sent, predictions=outcomes.predicted.unique,
        dead_letters=outcomes.dead.unique, bad_injected=generator.bad_sent,
        duplicates=outcomes.duplicates, missing=max(0, generator.sent - seen),
        events_per_s=round(outcomes.accounted / elapsed, 1),
        p50_ms=histogram_quantile(latencies, 0.5), p99_ms=histogram_quantile(latencies, 0.99),
    )


def memory_cap_line(rss_mb: float, cap_mb: float | None) -> str | None:
    """The line the demo stops with once the broker's resident memory is over the cap."""
    if cap_mb is None or rss_mb <= cap_mb:
        return None
    return (f"stopping: the embedded broker holds {rss_mb:,.1f} MB, over the demo's cap of "
            f"{cap_mb:,.0f} MB (--broker-memory-cap-mb); it keeps every record in memory, so "
            "restart the demo (it starts empty) or run it against Kafka")


class DemoStream:
    """A demo's parts: its pipeline, the event generator fed by ``feed``, the labels and
    the outcome collector (``label_field``: the prediction field whose classes it counts).

    ``streaminfer demo`` watches one live; ``benchmarks/soak.py`` samples one every minute.
    """

    def __init__(self, spec: PipelineSpec, feed: Feed, *, events: int | None, rate: float,
                 label_delay_s: float = 5.0, label_field: str | None = None,
                 broker_memory_cap_mb: float | None = BROKER_MEMORY_CAP_MB) -> None:
        """``label_delay_s``: with a feedback section, each event's label follows within
        this many seconds (uniformly at random, seeded). ``broker_memory_cap_mb``: see
        :meth:`memory_capped` (``None``: no cap)."""
        self.spec, self.feed, self.events, self.rate = spec, feed, events, rate
        self.label_delay_s, self.label_field = label_delay_s, label_field
        self.broker_memory_cap_mb = broker_memory_cap_mb
        self.capped: str | None = None  # the line it stopped with, once over the cap
        self._broker: psutil.Process | None = None
        self.pipeline = Pipeline(spec)
        self.generator: EventGenerator | None = None
        self.labels: LabelSender | None = None
        self.collector: OutcomeCollector | None = None
        self.watch = StallWatch(spec.metrics.stall_after_s)

    def start(self, console: Console) -> DemoStream:
        """Train the model if missing, start the pipeline, then feed it and read its output."""
        model = self.spec.model_specs[0]
        if model.registry_ref is None and (not model.path.exists()
                                           or not profile_path(model.path).exists()):
            console.print(f"training the demo model into {model.path.parent} ...")
            build(self.feed.model, model.path.parent)
        console.print(f"starting pipeline {self.spec.name} (embedded broker, Ray, "
                      f"{self.spec.workers.count} workers) ...")
        self.pipeline.start()
        self.pipeline.wait_ready()
        pid = self.pipeline.broker_pid  # None on an external Kafka: nothing to cap
        self._broker = psutil.Process(pid) if pid else None
        sink = self.spec.sink
        config = client_config(self.spec.kafka, self.pipeline.bootstrap_servers)
        self.collector = OutcomeCollector(config, sink.predictions_topic, sink.dead_letter_topic,
                                          label_field=self.label_field)
        if self.spec.feedback is not None:
            self.labels = LabelSender(config, self.spec.feedback.labels_topic,
                                      max_delay_s=self.label_delay_s)
            self.labels.start()
        self.generator = EventGenerator(config, self.spec.source.topics[0], self.feed,
                                        rate=self.rate, count=self.events, labels=self.labels)
        self.collector.start()
        self.generator.start()
        return self

    def check(self) -> None:
        """Raise what the generator thread ran into."""
        for thread in (self.generator, self.labels):
            if thread is not None and thread.error is not None:
                raise thread.error

    def done(self) -> bool:
        """A bounded demo is done when every event came back (or nothing more comes)."""
        if self.events is None or self.generator is None or self.collector is None:
            return False
        with self.collector.lock:
            accounted = self.collector.outcomes.accounted
            last = self.collector.outcomes.last_at
        if accounted >= self.events:
            return True
        quiet_for = time.monotonic() - max(last, self.generator.started_at)
        return self.generator.sent >= self.events and quiet_for > GIVE_UP_AFTER_S

    def broker_rss_mb(self) -> float | None:
        """Resident memory of the embedded broker this demo started (``None``: none)."""
        try:
            return None if self._broker is None else self._broker.memory_info().rss / 2**20
        except psutil.NoSuchProcess:
            return None

    def memory_capped(self) -> str | None:
        """The line to stop with, once the broker's memory went over the cap (kept in
        :attr:`capped`); ``None`` while under it."""
        if self.capped is None:
            rss = self.broker_rss_mb()
            if rss is not None:
                self.capped = memory_cap_line(rss, self.broker_memory_cap_mb)
        return self.capped

    def stall_warning(self, stats: PipelineStats) -> str | None:
        """The line to show while the workers read nothing although events wait."""
        sent = self.generator.sent if self.generator else 0
        stall = self.watch.update(time.monotonic(), stats.events_in, sent - stats.events_in)
        return None if stall is None else stall_message(stall, embedded=True)

    def shift_line(self) -> str:
        """The screen's note once the input shifted ('' before)."""
        generator = self.generator
        if generator is None or not generator.shifted:
            return ""
        return f"input shifted from event {self.feed.shift_from:,}: {self.feed.shift_note}"

    def stop(self, *, finish: bool = False) -> Summary | None:
        """Stop producing and drain the pipeline; the books, if it ran.

        With ``finish``, every event produced is first waited for (until the output stays
        quiet for :data:`GIVE_UP_AFTER_S`), so the books can add up; without it, events not
        read yet stay in the topic.
        """
        generator, collector = self.generator, self.collector
        if generator is not None:
            generator.stop_event.set()
            generator.join()
            if finish and collector is not None:
                self.events = generator.sent
                wait_until(self.done, math.inf, every_s=0.2, stop=collector.stop_event)
        if self.labels is not None:
            self.labels.stop_event.set()
            self.labels.join()
        self.pipeline.drain()
        if collector is not None:  # it reads the outputs to their end: the broker is up
            collector.stop_event.set()
            collector.join()
        self.pipeline.stop()
        if collector is None or generator is None:
            return None
        return summarize(generator, collector.outcomes)


def books_table(run: DemoStream, meter: RateMeter, title: str, unit: str = "events"
                ) -> tuple[Table, float]:
    """The counts read back from the output topics, and the rate they grow at."""
    generator, collector = run.generator, run.collector
    assert generator is not None and collector is not None
    with collector.lock:
        out = collector.outcomes
        rate = meter.update(out.accounted)
        head = live_table(title)
        for column in ("produced", "predictions", "dead letters", f"{unit}/s"):
            head.add_column(column, justify="right")
        head.add_row(f"{generator.sent:,}", f"{out.predicted.unique:,}", f"{out.dead.unique:,}",
                     f"{rate:,.0f}")
    return head, rate


def class_table(run: DemoStream, title: str, column: str) -> Table:
    """What the model named: each class's count, its share of all predictions and of the
    latest :data:`~streaminfer.pipelines.devtools.outcomes.RECENT` (a prediction drift shows
    there first); ``column`` heads the classes."""
    assert run.collector is not None
    with run.collector.lock:
        counts = dict(run.collector.outcomes.classes)
        recent = list(run.collector.outcomes.recent_classes)
    table = live_table(title)
    for name in (column, "predicted", "share", f"share of the last {RECENT}"):
        table.add_column(name, justify="left" if name == column else "right")
    total = max(1, sum(counts.values()))
    for name in sorted(counts, key=str):
        latest = sum(1 for c in recent if c == name) / max(1, len(recent))
        table.add_row(str(name), f"{counts[name]:,}", f"{counts[name] / total:.1%}",
                      f"{latest:.1%}")
    return table


def pipeline_tables(run: DemoStream, rate: float) -> tuple[Table, RenderableType]:
    """The workers' own counts (with end-to-end latency) and the drift table."""
    stats = run.pipeline.stats()
    workers = stats_table("workers (their own counts: acknowledged by the broker)", stats,
                          rate, warning=run.stall_warning(stats))
    drift = drift_table(run.pipeline.drift(),
                        serving={m.model: m.version for m in run.pipeline.models()})
    return workers, drift


def watch_live(run: DemoStream, console: Console, view: Callable[[], RenderableType], *,
               drain_on_signal: bool = False) -> Summary | None:
    """Start ``run`` and show ``view`` until it is done, a signal comes or the broker's
    memory is over the cap; then drain it. The books, if it ran.

    SIGINT and SIGTERM drain it (finish, commit); a second one aborts. After the memory cap
    (and a signal, with ``drain_on_signal``) every event produced is waited for first.
    """
    with StopSignals() as signals:
        try:
            run.start(console)
            console.print(f"kafka {run.pipeline.bootstrap_servers}; metrics "
                          f"{run.pipeline.metrics_url}; Ctrl-C stops")
            with live_display(console) as live:
                while not run.done() and not signals.event.wait(0.5):
                    live.update(view(), refresh=True)
                    run.check()
                    if run.memory_capped():
                        break
                live.update(view(), refresh=True)
            if run.capped:
                console.print(run.capped, soft_wrap=True)
            elif signals.event.is_set():
                console.print("stopping: finishing open batches ...")
        finally:
            summary = run.stop(finish=run.capped is not None
                                      or (drain_on_signal and signals.event.is_set()))
    return summary


def print_summary(console: Console, s: Summary, *, bounded: bool, unit: str = "events"
                  ) -> int:
    """The books as a table, a verdict and JSON; the exit status (0: they add up, or the
    demo was unbounded)."""
    table = Table(title="demo summary", title_justify="left")
    table.add_column("measure")
    table.add_column("value", justify="right")
    rows = [
        (f"{unit} produced", f"{s.events:,}"), ("predictions", f"{s.predictions:,}"),
        ("dead letters", f"{s.dead_letters:,} (injected bad: {s.bad_injected:,})"),
        ("duplicates", f"{s.duplicates:,}"), ("missing", f"{s.missing:,}"),
        (f"{unit}/s", f"{s.events_per_s:,.0f}"),
        ("p50 latency ms (end to end)", "-" if s.p50_ms is None else f"{s.p50_ms:.0f}"),
        ("p99 latency ms (end to end)", "-" if s.p99_ms is None else f"{s.p99_ms:.0f}"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    if s.adds_up:
        console.print(f"[green]all {unit} accounted for[/green]")
    elif bounded:
        console.print("[red]the numbers do not add up[/red]")
    else:
        console.print(f"{s.missing:,} {unit} were still unscored when stopped "
                      "(they stay in the topic)")
    console.print_json(orjson.dumps(s.__dict__ | {"adds_up": s.adds_up}).decode())
    return 0 if s.adds_up or not bounded else 1
