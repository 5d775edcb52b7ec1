"""The live terminal view of a running pipeline (rich)."""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Iterator, Mapping
from typing import Any

from rich import box
from rich.console import Console, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from streaminfer.pipelines.feedback.live_metrics import FeedbackSummary
from streaminfer.pipelines.online.drift_watch import DriftState
from streaminfer.pipelines.rollout.status import ModelServing
from streaminfer.pipelines.runtime.stats import PipelineStats


@contextlib.contextmanager
def live_display(console: Console) -> Iterator[Live]:
    """Rich's ``Live``, refreshed by the caller. On a console that is not a terminal (a log
    file) Rich leaves its last view's last line unterminated: it is terminated here."""
    with Live(console=console, auto_refresh=False) as live:
        yield live
    if not console.is_terminal:
        console.line()


class RateMeter:
    """Events per second of a growing counter, over the last ``window_s`` of looks (a
    counter read in bursts, such as the demo's output read once a second, stays steady)."""

    def __init__(self, window_s: float = 5.0) -> None:
        self.window_s = window_s
        self._looks: deque[tuple[float, int]] = deque()
        self.rate = 0.0

    def update(self, count: int, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        self._looks.append((now, count))
        while len(self._looks) > 2 and now - self._looks[1][0] >= self.window_s:
            self._looks.popleft()
        then, before = self._looks[0]
        if now > then:
            self.rate = max(0.0, (count - before) / (now - then))
        return self.rate


def live_table(title: str, **settings: Any) -> Table:
    """A table of a live screen: its title, the header and a rule under it, the rows; no
    outer border (a screen of several tables then fits a terminal)."""
    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False,
                 **settings)


def rows_of(console: Console, renderable: RenderableType) -> int:
    """How many rows ``renderable`` takes on ``console`` (at its width, any height)."""
    return len(console.render_lines(renderable, console.options.update(height=None),
                                    pad=False))


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


#: The workers' latency columns: end to end, from the event's produce time (the record's
#: timestamp) to its prediction, over each worker's recent events.
LATENCY_COLUMNS = ("e2e p50 ms", "e2e p99 ms")


def stats_table(title: str, stats: PipelineStats, rate: float, *,
                warning: str | None = None) -> Table:
    """One row per worker, then the totals, as the workers count them (a batch once the
    broker acknowledged it); ``warning`` and the driver threads' last errors show under the
    table in red."""
    lines = ([warning] if warning else []) + [e.describe() for e in stats.thread_errors]
    table = live_table(title, expand=False,
                       caption="\n".join(f"[bold red]{escape(line)}[/bold red]"
                                          for line in lines) or None, caption_justify="left")
    for column in ("worker", "events in", "predictions", "dead letters", "lag",
                   *LATENCY_COLUMNS):
        table.add_column(column, justify="right" if column != "worker" else "left")
    for w in sorted(stats.workers, key=lambda w: w.worker_id):
        table.add_row(w.worker_id + ("" if w.running else " (stopped)"), f"{w.events_in:,}",
                      f"{w.predictions:,}", f"{w.dead_letter_total:,}", f"{sum(w.lag.values()):,}",
                      _ms(w.latency_ms(0.5)), _ms(w.latency_ms(0.99)))
    table.add_row(
        f"[bold]all ({len(stats.workers)}/{stats.workers_expected}) {rate:,.0f} ev/s[/bold]",
        f"{stats.events_in:,}", f"{stats.predictions:,}", f"{stats.dead_letters:,}",
        f"{stats.lag:,}", _ms(stats.latency_ms(0.5)), _ms(stats.latency_ms(0.99)),
    )
    return table


def drift_table(states: list[DriftState], worst: int = 3,
                serving: Mapping[str, str] | None = None) -> Table | str:
    """Drift per model version: events in the window, the highest PSIs, alerts; drifted
    metrics in red. Empty when drift is off. With ``serving`` (model -> the version it
    serves), a version that no longer serves and whose window emptied is left out."""
    if serving is not None:
        states = [s for s in states if s.rows or serving.get(s.model) in (None, s.version)]
    if not states:
        return ""
    table = live_table("drift (PSI vs the version's training profile)")
    for column in ("model", "version", "window events", "highest PSI", "alerts"):
        table.add_column(column, justify="right" if column in ("window events", "alerts")
                         else "left")
    for s in sorted(states, key=lambda s: (s.model, s.version)):
        top = sorted(s.psi.items(), key=lambda kv: -kv[1])[:worst] if s.rows else []
        shown = ", ".join(
            f"[bold red]{escape(name)} {value:.2f}[/bold red]" if name in s.drifted
            else f"{escape(name)} {value:.2f}" for name, value in top) or "(too few events)"
        version = s.version if serving is None or serving.get(s.model) in (None, s.version) \
            else f"{s.version} (not serving)"
        table.add_row(escape(s.model), escape(version), f"{s.rows:,}", shown,
                      f"[bold red]{s.alerts}[/bold red]" if s.alerts else "0")
    return table


def models_table(models: list[ModelServing]) -> Table | str:
    """Per model: the version serving, the alias it follows, its shadow or canary."""
    if not models:
        return ""
    table = Table(title="models", title_justify="left")
    for column in ("model", "serving", "follows", "candidate"):
        table.add_column(column)
    for m in models:
        candidate = "-"
        if m.candidate is not None:
            candidate = f"{m.mode} v{m.candidate}" + (
                f" ({m.share:.0%} of events)" if m.mode == "canary" else "")
        table.add_row(escape(m.model), escape(m.version), escape(m.follows or "-"),
                      escape(candidate))
    return table


#: The join cases the title sums up as joined.
JOINED = ("label_after_prediction", "label_before_prediction")
#: Live metrics shown per model and version (those a window has).
LIVE_COLUMNS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss",
                "calibration_error", "mae", "rmse", "r2")


def feedback_table(summary: FeedbackSummary) -> Table:
    """Joins by case, pending entries, and live metrics per model and version (the metrics
    as one wrapped cell, so that the table stays readable at 80 columns)."""
    cases = summary.cases
    table = live_table(f"feedback: {summary.matched:,} joined, {summary.examples_out:,} "
                       f"examples out, pending {summary.pending.get('prediction', 0):,} "
                       f"predictions / {summary.pending.get('label', 0):,} labels",
                       caption="; ".join(part for part in (
                           ", ".join(f"{case} {n:,}" for case, n in cases.items()
                                     if n and case not in JOINED),
                           f"a joiner crashed: {summary.last_crash}" if summary.last_crash
                           else "") if part) or None,
                       caption_justify="left")
    for column in ("model", "version", "examples", "live metrics", "delay p50"):
        table.add_column(column, justify="right" if column == "examples" else "left",
                         overflow="fold")
    for (model, version), m in sorted(summary.live.items()):
        metrics = " ".join(f"{name}={_metric(m[name])}" for name in LIVE_COLUMNS if name in m)
        delay = m.get("label_delay_p50_ms")
        table.add_row(escape(model), escape(version), f"{int(m['examples']):,}",
                      metrics or "-", "-" if delay is None else f"{delay / 1000:.1f} s")
    return table


def _metric(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value:.3f}"
