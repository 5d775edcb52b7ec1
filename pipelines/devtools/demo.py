"""``streaminfer demo``: the demo pipeline on the embedded broker, fed by a replay of the
breast-cancer dataset, watched live from its output topics (the parts every demo shares:
``demo_run.py``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from rich.console import Console, Group

from streaminfer.pipelines.devtools.demo_loop import LoopWatch
from streaminfer.pipelines.devtools.demo_run import (
    BROKER_MEMORY_CAP_MB,
    DemoStream,
    Event,
    books_table,
    event_key,
    pipeline_tables,
    print_summary,
    watch_live,
)
from streaminfer.pipelines.devtools.example_models import EXAMPLES
from streaminfer.pipelines.devtools.shipped import load_demo_spec
from streaminfer.pipelines.online.live_view import (
    RateMeter,
    feedback_table,
    live_table,
    rows_of,
)
from streaminfer.pipelines.spec.schema import PipelineSpec

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


class RowFeed:
    """Dataset rows with small noise (seeded), as JSON events; every ``bad_every``-th one
    malformed, one kind after the other; from ``shift_from`` on, ``shift`` added to each
    row. Each good event's label is its row's true class."""

    model = "breast_cancer"
    shift_note = ", ".join(SHIFTED_FEATURES)

    def __init__(self, *, bad_every: int, shift_from: int | None = None,
                 shift_sd: float = 2.0, seed: int = 0) -> None:
        dataset = EXAMPLES[self.model].dataset()
        self.features, self.rows, self.targets = dataset.features, dataset.X, dataset.y
        self.bad_every, self.shift_from = bad_every, shift_from
        self.shift = np.zeros(len(self.features))
        for name in SHIFTED_FEATURES:
            column = self.features.index(name)
            self.shift[column] = shift_sd * self.rows[:, column].std()
        self._rng = np.random.default_rng(seed)

    def event(self, index: int) -> Event:
        key = event_key(index)
        if self.bad_every and index % self.bad_every == self.bad_every - 1:
            template = BAD_EVENTS[(index // self.bad_every) % len(BAD_EVENTS)]
            return Event(key, template % key, bad=True)
        row = self.rows[index % len(self.rows)]
        noisy = row * (1.0 + self._rng.normal(0.0, 0.01, size=row.shape))
        if self.shift_from is not None and index >= self.shift_from:
            noisy = noisy + self.shift
        noisy = np.round(noisy, 5)
        event: dict[str, Any] = {"id": key.decode(), "ts": int(time.time() * 1000)}
        event.update(zip(self.features, noisy.tolist(), strict=True))
        return Event(key, orjson.dumps(event),
                     label=int(self.targets[index % len(self.targets)]))


class DemoRun(DemoStream):
    """The tabular demo: :class:`RowFeed` through the pipeline (``benchmarks/soak.py``
    samples one every minute)."""

    def __init__(self, spec: PipelineSpec, *, events: int | None, rate: float,
                 bad_every: int, shift_after: int | None = None, shift_sd: float = 2.0,
                 label_delay_s: float = 5.0,
                 broker_memory_cap_mb: float | None = BROKER_MEMORY_CAP_MB) -> None:
        feed = RowFeed(bad_every=bad_every, shift_from=shift_after or None, shift_sd=shift_sd)
        super().__init__(spec, feed, events=events, rate=rate, label_delay_s=label_delay_s,
                         broker_memory_cap_mb=broker_memory_cap_mb)


def _view(run: DemoStream, meter: RateMeter, console: Console,
          loop: LoopWatch | None = None) -> Group:
    """One screen that fits the terminal. The counts of the first table are read back from
    the output topics, the workers' are their own (a batch once the broker acknowledged it):
    each table's title says which; latency only in the workers' table, end to end."""
    generator, collector = run.generator, run.collector
    assert generator is not None and collector is not None
    head, rate = books_table(run, meter, "streaminfer demo: breast-cancer scoring (read back "
                             "from the output topics)")
    with collector.lock:
        samples = list(collector.outcomes.samples)
    preds = live_table("latest predictions")
    for column in ("id", "label", "P(benign)", "latency ms", "partition/offset"):
        preds.add_column(column)
    for p in samples:
        src = p["source"]
        preds.add_row(str(p["id"]), "benign" if p["label"] == 1 else "malignant",
                      f"{p['probabilities'][1]:.3f}", str(p["latency_ms"]),
                      f"{src['partition']}/{src['offset']}")
    workers, drift = pipeline_tables(run, rate)
    note = run.shift_line()
    if loop is not None:  # its panels replace the predictions and the feedback table
        above = Group(head, workers, drift, note)
        return Group(above, loop.look(
            run.pipeline, shifted=generator.shifted,
            since_start_s=time.monotonic() - generator.started_at,
            # a screen's height bounds the timeline; a log (no terminal) has none
            fit=(console, console.height - 1 - rows_of(console, above))
            if console.is_terminal else None))
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
    if watch is not None:
        watch.prepare(console)
    meter = RateMeter()
    # The loop demo runs until a signal, and any demo until the broker's memory cap; then it
    # drains what was produced, so its books add up (the plain demo stopped by a signal
    # leaves unread events in the topic).
    summary = watch_live(run, console, lambda: _view(run, meter, console, watch),
                         drain_on_signal=loop)
    if summary is None:
        return 1
    code = print_summary(console, summary, bounded=events is not None)
    if watch is not None:
        watch.print_summary(console)
    return code
