"""Read a running pipeline's ``/metrics`` endpoint back into numbers (``streaminfer status``)."""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass, field, replace

from prometheus_client.parser import text_string_to_metric_families

from streaminfer.errors import PipelineError
from streaminfer.operators import metric_names as names
from streaminfer.pipelines.feedback.live_metrics import FeedbackSummary
from streaminfer.pipelines.runtime.driver_thread import ThreadError

#: Worker families summed into one number: family -> :class:`PipelineStatus` attribute.
TOTALS = {names.EVENTS_IN: "events_in", names.PREDICTIONS_OUT: "predictions",
          names.DEAD_LETTERS: "dead_letters", names.WORKERS_ALIVE: "workers_alive"}
#: Joiner families summed per label: family -> (summary attribute, label).
BY_LABEL = {names.JOINS: ("cases", "case"), names.FEEDBACK_RECORDS_IN: ("records_in", "side"),
            names.FEEDBACK_INVALID: ("invalid", "side"), names.PENDING: ("pending", "side")}
#: A shadow's agreement counters (pipelines/runtime/candidates.py): family -> index.
SHADOW = {names.SHADOW_COMPARED: 0, names.SHADOW_AGREED: 1}
#: Every family ``status`` reads (a test checks that each is exported).
READ = frozenset({*TOTALS, *BY_LABEL, *SHADOW, names.LIVE_QUALITY, names.EXAMPLES_OUT,
                  names.UNMATCHED_OUT, names.DRIVER_THREAD_LAST_ERROR,
                  names.DRIVER_THREAD_ERRORS, names.MODEL_SERVING, names.CANARY_SHARE})


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
    #: The last error of each driver thread that has had one (docs/operations.md).
    thread_errors: list[ThreadError] = field(default_factory=list)


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
    counts: dict[str, int] = {}
    for family in text_string_to_metric_families(text):
        name = family.name.removesuffix("_total")  # untyped counters keep the suffix
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            labels, value = sample.labels, sample.value
            if name in TOTALS:
                attr = TOTALS[name]
                setattr(status, attr, getattr(status, attr) + value)
                continue
            if name in SHADOW:
                tally = status.shadow.setdefault((labels["model"], labels["version"]), [0, 0])
                tally[SHADOW[name]] += value
                continue
            if name == names.DRIVER_THREAD_ERRORS:
                counts[labels["thread"]] = int(value)
                continue
            if name == names.DRIVER_THREAD_LAST_ERROR:
                status.thread_errors.append(ThreadError(labels["thread"], labels["error"],
                                                        value, 0))
                continue
            if name == names.LIVE_QUALITY:
                key = (labels["model"], labels["version"])
                summary.live.setdefault(key, {})[labels["metric"]] = value
                seen_feedback = True
                continue
            if name == names.EXAMPLES_OUT:
                summary.examples_out += int(value)
            elif name == names.UNMATCHED_OUT:
                summary.unmatched_out += int(value)
            elif name in BY_LABEL:
                into, label = BY_LABEL[name]
                counts = getattr(summary, into)
                counts[labels[label]] = counts.get(labels[label], 0) + int(value)
            else:
                continue
            seen_feedback = True
            status.joiners.add(labels.get("worker", ""))
    status.thread_errors = [replace(e, count=counts.get(e.thread, 0))
                            for e in status.thread_errors]
    summary.joiners = len(status.joiners)
    status.feedback = summary if seen_feedback else None
    return status
