"""Live validation in the driver: every joiner's window merged, metrics per model and version.

The gauges live in the driver's registry (one endpoint with the workers' and joiners'
families): ``streaminfer_live_quality{model, version, metric}``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Gauge

from streaminfer.operators.join_state import CASES
from streaminfer.operators.live_window import Key, merge_rows, window_metrics
from streaminfer.operators.metric_names import LIVE_QUALITY
from streaminfer.pipelines.runtime.joiner_metrics import JoinerStats
from streaminfer.pipelines.spec.feedback_spec import FeedbackSpec


@dataclass
class FeedbackSummary:
    """What the joiners report together: case counts, pending entries, live metrics."""

    joiners: int = 0
    cases: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CASES, 0))
    records_in: dict[str, int] = field(default_factory=dict)
    invalid: dict[str, int] = field(default_factory=dict)
    examples_out: int = 0
    unmatched_out: int = 0
    pending: dict[str, int] = field(default_factory=dict)
    live: dict[Key, dict[str, float]] = field(default_factory=dict)
    last_crash: str | None = None  # why a joiner crashed last (``None``: none did)

    @property
    def matched(self) -> int:
        return self.cases["label_after_prediction"] + self.cases["label_before_prediction"]


def _add(into: dict[str, int], more: dict[str, int]) -> None:
    for name, value in more.items():
        into[name] = into.get(name, 0) + value


def summarize(stats: Sequence[JoinerStats], fb: FeedbackSpec,
              shadow: Sequence[JoinerStats] = ()) -> FeedbackSummary:
    """Sum the joiners' counters; compute the live metrics over their merged windows, the
    ``shadow`` joiners' included (their counters are not the served predictions')."""
    out = FeedbackSummary(joiners=len(stats))
    for s in stats:
        _add(out.cases, s.cases)
        _add(out.records_in, s.records_in)
        _add(out.invalid, s.invalid)
        _add(out.pending, s.pending)
        out.examples_out += s.examples_out
        out.unmatched_out += s.unmatched_out
    merged = merge_rows((s.window for s in (*stats, *shadow)), fb.live.window)
    out.live = {key: window_metrics(rows, fb.live.classes) for key, rows in merged.items()}
    return out


class LiveGauges:
    """``streaminfer_live_quality`` in the driver's registry, set from each summary."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._gauge = Gauge(LIVE_QUALITY, "Live validation over the sliding window, per model "
                            "and version: quality metrics, examples, label delay (ms).",
                            ["model", "version", "metric"], registry=registry)

    def update(self, summary: FeedbackSummary) -> None:
        self._gauge.clear()
        for (model, version), metrics in summary.live.items():
            for metric, value in metrics.items():
                if not math.isnan(value):
                    self._gauge.labels(model, version, metric).set(value)
