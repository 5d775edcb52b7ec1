"""``streaminfer demo``: the demo pipeline on the embedded broker, fed by a replay of the
breast-cancer dataset, watched live from its output topics.

The demo checks its own books: every event it produced must come back exactly once, as a
prediction or (for the malformed events it injects on purpose) as a dead letter.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import psutil
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from streaminfer.operators.profile import profile_path
from streaminfer.pipelines.devtools.demo_labels import LabelSender
from streaminfer.pipelines.devtools.demo_loop import LoopWatch
from streaminfer.pipelines.devtools.example_models import EXAMPLES, build
from streaminfer.pipelines.devtools.outcomes import (
    OutcomeCollector,
    Outcomes,
    histogram_quantile,
    seen_in_either,
)
from streaminfer.pipelines.devtools.shipped import load_demo_spec
from streaminfer.pipelines.kafka.embedded_broker import PRODUCER_SETTINGS
from streaminfer.pipelines.kafka.factory import new_producer
from streaminfer.pipelines.online.live_view import (
    RateMeter,
    drift_table,
    feedback_table,
    live_table,
    rows_of,
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

#: Features the demo shifts part way through (by ``shift_sd`` standard deviations), so the
#: drift alert fires: the texture and size of the cells, as if another lab sent them.
SHIFTED_FEATURES = ("mean_texture", "worst_area", "worst_concave_points")

#: Malformed events the generator slips in, one kind after the other.
BAD_EVENTS = (
    b'{"id": "%s", "mean_radius": ',                       # invalid JSON
    b'{"id": "%s", "note": "no features at all"}',          # missing features
    b'{"id": "%s", "mean_radius": "large"}',                # non-numeric
    b'["%s", "an array, not an object"]',                   # not an object
)


class EventGenerator(threading.Thread):
    """Replays dataset rows with small noise at ``rate`` events/s, keyed by event id.

    It sends through :data:`~streaminfer.pipelines.kafka.embedded_broker.PRODUCER_SETTINGS`: few,
    large, compressed record batches, which the embedded broker can keep up with for hours.
    """

    def __init__(
        self, config: dict[str, Any], topic: str, features: list[str], rows: np.ndarray, *,
        rate: float, count: int | None, bad_every: int, seed: int = 0,
        shift: tuple[int, np.ndarray] | None = None,
        labels: LabelSender | None = None, targets: np.ndarray | None = None,
    ) -> None:
        """``shift``: from that event index on, add this vector to every row.
        ``labels``: where each good event's true class (``targets``, per row) goes."""
        super().__init__(name="demo-generator", daemon=True)
        self._producer = new_producer(config, **PRODUCER_SETTINGS)
        self.topic, self.features, self.rows = topic, features, rows
        self.rate, self.count, self.bad_every = rate, count, bad_every
        self.shift = shift
        self.labels, self.targets = labels, targets
        self._rng = np.random.default_rng(seed)
        self.stop_event = threading.Event()
        self.sent = 0
        self.bad_sent = 0
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
        if self.shift is not None and index >= self.shift[0]:
            noisy = noisy + self.shift[1]
        noisy = np.round(noisy, 5)
        event: dict[str, Any] = {"id": event_id, "ts": int(time.time() * 1000)}
        event.update(zip(self.features, noisy.tolist(), strict=True))
        if self.labels is not None and self.targets is not None:
            self.labels.schedule(event_id, int(self.targets[index % len(self.targets)]))
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
                self.bad_sent += bad
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


class DemoRun:
    """The demo's parts: its pipeline, the event generator and the outcome collector.

    ``streaminfer demo`` watches one live; ``benchmarks/soak.py`` samples one every minute.
    """

    def __init__(self, spec: PipelineSpec, *, events: int | None, rate: float,
                 bad_every: int, shift_after: int | None = None, shift_sd: float = 2.0,
                 label_delay_s: float = 5.0,
                 broker_memory_cap_mb: float | None = BROKER_MEMORY_CAP_MB) -> None:
        """``label_delay_s``: with a feedback section, each event's label follows within
        this many seconds (uniformly at random, seeded). ``broker_memory_cap_mb``: see
        :meth:`memory_capped` (``None``: no cap)."""
        self.spec, self.events, self.rate, self.bad_every = spec, events, rate, bad_every
        self.shift_after, self.shift_sd = shift_after, shift_sd
        self.label_delay_s = label_delay_s
        self.broker_memory_cap_mb = broker_memory_cap_mb
        self.capped: str | None = None  # the line it stopped with, once over the cap
        self._broker: psutil.Process | None = None
        self.pipeline = Pipeline(spec)
        self.generator: EventGenerator | None = None
        self.labels: LabelSender | None = None
        self.collector: OutcomeCollector | None = None
        self.watch = StallWatch(spec.metrics.stall_after_s)

    def start(self, console: Console) -> DemoRun:
        """Train the model if missing, start the pipeline, then feed it and read its output."""
        model = self.spec.model_specs[0]
        model_path = model.path
        if model.registry_ref is None and (not model_path.exists()
                                           or not profile_path(model_path).exists()):
            console.print(f"training the demo model into {model_path.parent} ...")
            build("breast_cancer", model_path.parent)
        dataset = EXAMPLES["breast_cancer"].dataset()
        shift = None
        if self.shift_after:
            vector = np.zeros(len(dataset.features))
            for name in SHIFTED_FEATURES:
                column = dataset.features.index(name)
                vector[column] = self.shift_sd * dataset.X[:, column].std()
            shift = (self.shift_after, vector)
        console.print(f"starting pipeline {self.spec.name} (embedded broker, Ray, "
                      f"{self.spec.workers.count} workers) ...")
        self.pipeline.start()
        self.pipeline.wait_ready()
        pid = self.pipeline.broker_pid  # None on an external Kafka: nothing to cap
        self._broker = psutil.Process(pid) if pid else None
        sink = self.spec.sink
        config = client_config(self.spec.kafka, self.pipeline.bootstrap_servers)
        self.collector = OutcomeCollector(config, sink.predictions_topic, sink.dead_letter_topic)
        if self.spec.feedback is not None:
            self.labels = LabelSender(config, self.spec.feedback.labels_topic,
                                      max_delay_s=self.label_delay_s)
            self.labels.start()
        self.generator = EventGenerator(config, self.spec.source.topics[0], dataset.features,
                                        dataset.X, rate=self.rate, count=self.events,
                                        bad_every=self.bad_every, shift=shift,
                                        labels=self.labels, targets=dataset.y)
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
        self.pipeline.stop()
        if collector is None:
            return None
        collector.stop_event.set()
        collector.join()
        return None if generator is None else summarize(generator, collector.outcomes)


def _view(run: DemoRun, meter: RateMeter, console: Console,
          loop: LoopWatch | None = None) -> Group:
    """One screen that fits the terminal. The counts of the first table are read back from
    the output topics, the workers' are their own (a batch once the broker acknowledged it):
    each table's title says which; latency only in the workers' table, end to end."""
    generator, collector = run.generator, run.collector
    assert generator is not None and collector is not None
    with collector.lock:
        out = collector.outcomes
        rate = meter.update(out.accounted)
        samples = list(out.samples)
        head = live_table("streaminfer demo: breast-cancer scoring (read back from the "
                          "output topics)")
        for column in ("produced", "predictions", "dead letters", "events/s"):
            head.add_column(column, justify="right")
        head.add_row(f"{generator.sent:,}", f"{out.predicted.unique:,}", f"{out.dead.unique:,}",
                     f"{rate:,.0f}")
    preds = live_table("latest predictions")
    for column in ("id", "label", "P(benign)", "latency ms", "partition/offset"):
        preds.add_column(column)
    for p in samples:
        src = p["source"]
        preds.add_row(str(p["id"]), "benign" if p["label"] == 1 else "malignant",
                      f"{p['probabilities'][1]:.3f}", str(p["latency_ms"]),
                      f"{src['partition']}/{src['offset']}")
    stats = run.pipeline.stats()
    workers = stats_table("workers (their own counts: acknowledged by the broker)", stats,
                          rate, warning=run.stall_warning(stats))
    shifted = generator.shift is not None and generator.sent >= generator.shift[0]
    note = (f"input shifted from event {generator.shift[0]:,}: {', '.join(SHIFTED_FEATURES)}"
            if shifted and generator.shift else "")
    drift = drift_table(run.pipeline.drift(),
                        serving={m.model: m.version for m in run.pipeline.models()})
    if loop is not None:  # its panels replace the predictions and the feedback table
        above = Group(head, workers, drift, note)
        return Group(above, loop.look(
            run.pipeline, shifted=shifted, since_start_s=time.monotonic() - generator.started_at,
            fit=(console, console.height - 1 - rows_of(console, above))))
    feedback = run.pipeline.feedback()
    return Group(head, preds, workers, drift,
                 feedback_table(feedback) if feedback is not None else "", note)


def run_demo(
    config_path: Path | None, *, events: int | None, rate: float, bad_every: int,
    workers: int | None = None, console: Console | None = None,
    shift_after: int | None = None, shift_sd: float = 2.0, label_delay_s: float = 5.0,
    loop: bool = False, broker_memory_cap_mb: float | None = BROKER_MEMORY_CAP_MB,
) -> int:
    """Run the demo; with ``events`` it stops by itself and returns 0 only if all add up.
    With ``loop``, the model comes from a registry of the demo's own and the screen shows
    the loop (retrain, gate, shadow, promote: pipelines/devtools/demo_loop.py).
    ``config_path`` None: ``configs/demo[-loop].yaml`` here, else the packaged copy.

    SIGINT and SIGTERM drain it (finish, commit, print the summary); a second one aborts.
    So does the embedded broker's memory going over ``broker_memory_cap_mb``, with one line.
    """
    console = console or Console()
    spec, source = load_demo_spec(config_path, loop=loop)
    spec = spec.with_overrides(workers=workers)
    console.print(f"pipeline {source}")
    run = DemoRun(spec, events=events, rate=rate, bad_every=bad_every,
                  shift_after=shift_after, shift_sd=shift_sd, label_delay_s=label_delay_s,
                  broker_memory_cap_mb=broker_memory_cap_mb)
    watch = LoopWatch(spec) if loop else None
    summary: Summary | None = None
    with StopSignals() as signals:
        try:
            if watch is not None:
                watch.prepare(console)
            run.start(console)
            signals.install()  # ray.init took SIGTERM over
            console.print(f"kafka {run.pipeline.bootstrap_servers}; metrics "
                          f"{run.pipeline.metrics_url}; Ctrl-C stops")
            meter = RateMeter()
            with Live(console=console, auto_refresh=False) as live:
                while not run.done() and not signals.event.wait(0.5):
                    live.update(_view(run, meter, console, watch), refresh=True)
                    run.check()
                    if run.memory_capped():
                        break
                live.update(_view(run, meter, console, watch), refresh=True)
            if run.capped:
                console.print(run.capped, soft_wrap=True)
            elif signals.event.is_set():
                console.print("stopping: finishing open batches ...")
        finally:
            # The loop demo runs until a signal, and any demo until the broker's memory cap;
            # then it drains what was produced, so its books add up (the plain demo stopped
            # by a signal leaves unread events in the topic).
            summary = run.stop(finish=run.capped is not None
                               or (loop and signals.event.is_set()))
    if summary is None:
        return 1
    _print_summary(console, summary, bounded=events is not None)
    if watch is not None:
        watch.print_summary(console)
    return 0 if summary.adds_up or events is None else 1



def _print_summary(console: Console, s: Summary, *, bounded: bool) -> None:
    table = Table(title="demo summary", title_justify="left")
    table.add_column("measure")
    table.add_column("value", justify="right")
    rows = [
        ("events produced", f"{s.events:,}"), ("predictions", f"{s.predictions:,}"),
        ("dead letters", f"{s.dead_letters:,} (injected bad: {s.bad_injected:,})"),
        ("duplicates", f"{s.duplicates:,}"), ("missing", f"{s.missing:,}"),
        ("events/s", f"{s.events_per_s:,.0f}"),
        ("p50 latency ms (end to end)", "-" if s.p50_ms is None else f"{s.p50_ms:.0f}"),
        ("p99 latency ms (end to end)", "-" if s.p99_ms is None else f"{s.p99_ms:.0f}"),
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
