"""Read a running pipeline's ``/metrics`` endpoint back into numbers (``streaminfer status``)."""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

from streaminfer.errors import PipelineError
from streaminfer.pipelines.feedback.live_metrics import LIVE_QUALITY, FeedbackSummary
from streaminfer.pipelines.feedback.metrics import (
    EXAMPLES_OUT,
    INVALID,
    JOINS,
    PENDING,
    RECORDS_IN,
    UNMATCHED_OUT,
)

#: Joiner families summed per label: family -> (summary attribute, label).
_BY_LABEL = {JOINS: ("cases", "case"), RECORDS_IN: ("records_in", "side"),
             INVALID: ("invalid", "side"), PENDING: ("pending", "side")}


#: A shadow's agreement counters (pipelines/online/candidates.py): family -> index.
_SHADOW = {"streaminfer_shadow_compared": 0, "streaminfer_shadow_agreed": 1}


@dataclass
class PipelineStatus:
    """What the endpoint says: the workers' totals and, with feedback, the joiners'."""

    events_in: float = 0.0
    predictions: float = 0.0
    dead_letters: float = 0.0
    workers_alive: float = 0.0
    feedback: FeedbackSummary | None = None
    joiners: set[str] = field(default_factory=set)
    #: Per (model, shadow version): [rows compared, rows agreeing] (docs/rollout.md).
    shadow: dict[tuple[str, str], list[float]] = field(default_factory=dict)


def fetch_metrics(url: str, timeout_s: float = 5.0) -> str:
    """The endpoint's text; one clear :class:`PipelineError` when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return str(response.read().decode())
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise PipelineError(
            f"nothing answers at {url} ({reason}): is the pipeline running, with "
            "metrics.enabled and this metrics.host/metrics.port?"
        ) from None


def parse_status(text: str) -> PipelineStatus:
    """Sum the samples of the families ``status`` shows (over every worker and joiner).

    >>> s = parse_status('streaminfer_predictions_out_total{worker="w0"} 5.0\\n'
    ...                  'streaminfer_feedback_joins_total{case="label_after_prediction",'
    ...                  'worker="j0"} 3.0\\n')
    >>> s.predictions, s.feedback.matched
    (5.0, 3)
    """
    status = PipelineStatus()
    summary = FeedbackSummary()
    seen_feedback = False
    totals = {"streaminfer_events_in": "events_in", "streaminfer_predictions_out": "predictions",
              "streaminfer_dead_letters": "dead_letters", "streaminfer_workers_alive":
              "workers_alive"}
    for family in text_string_to_metric_families(text):
        name = family.name.removesuffix("_total")  # untyped counters keep the suffix
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            labels, value = sample.labels, sample.value
            if name in totals:
                attr = totals[name]
                setattr(status, attr, getattr(status, attr) + value)
                continue
            if name in _SHADOW:
                tally = status.shadow.setdefault((labels["model"], labels["version"]), [0, 0])
                tally[_SHADOW[name]] += value
                continue
            if name == LIVE_QUALITY:
                key = (labels["model"], labels["version"])
                summary.live.setdefault(key, {})[labels["metric"]] = value
                seen_feedback = True
                continue
            if name == EXAMPLES_OUT:
                summary.examples_out += int(value)
            elif name == UNMATCHED_OUT:
                summary.unmatched_out += int(value)
            elif name in _BY_LABEL:
                into, label = _BY_LABEL[name]
                counts = getattr(summary, into)
                counts[labels[label]] = counts.get(labels[label], 0) + int(value)
            else:
                continue
            seen_feedback = True
            status.joiners.add(labels.get("worker", ""))
    summary.joiners = len(status.joiners)
    status.feedback = summary if seen_feedback else None
    return status
