"""The one metric table: each quality metric's name, task, direction, primary flag and
meaning. Every rule that asks "which way is better" or "which metric judges a model" asks
here (gate, rollback, promote, retrain trigger, optimize, validation, the spec's checks).

>>> METRICS["calibration_error"].higher_is_better
False
>>> primary_metric("regressor")
'rmse'
>>> round(gain("log_loss", 0.30, 0.35), 4), is_better("accuracy", 0.9, 0.8)
(0.05, True)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

Task = Literal["classifier", "regressor"]
TASKS: tuple[Task, ...] = ("classifier", "regressor")


@dataclass(frozen=True)
class Metric:
    """One quality metric."""

    name: str
    task: Task
    higher_is_better: bool
    primary: bool  # the metric a model of this task is judged by when none is named
    description: str

    @property
    def sign(self) -> int:
        """+1 where higher is better, -1 where lower is: ``sign * value`` grows as it improves."""
        return 1 if self.higher_is_better else -1

    @property
    def better(self) -> str:
        """``higher`` or ``lower``: which way is better, in words."""
        return "higher" if self.higher_is_better else "lower"

    @property
    def worse_side(self) -> str:
        """``below`` or ``above``: where a worse value lies against a bound, in words."""
        return "below" if self.higher_is_better else "above"


_ROWS = (
    Metric("accuracy", "classifier", True, True, "Share of rows whose most probable class is "
           "the label."),
    Metric("precision", "classifier", True, False, "Of the rows predicted positive, the share "
           "that are (macro average over classes beyond two)."),
    Metric("recall", "classifier", True, False, "Of the positive rows, the share predicted "
           "positive (macro average over classes beyond two)."),
    Metric("f1", "classifier", True, False, "Harmonic mean of precision and recall."),
    Metric("roc_auc", "classifier", True, False, "Area under the ROC curve of the positive "
           "class's probability (two classes only; NaN otherwise)."),
    Metric("log_loss", "classifier", False, False, "Mean negative log of the probability "
           "given to the label."),
    Metric("calibration_error", "classifier", False, False, "Expected calibration error: "
           "mean gap between confidence and observed rate over 10 confidence bins."),
    Metric("rmse", "regressor", False, True, "Root mean squared error, in the target's units."),
    Metric("mae", "regressor", False, False, "Mean absolute error, in the target's units."),
    Metric("r2", "regressor", True, False, "Coefficient of determination R^2 (NaN with fewer "
           "than two rows)."),
)
METRICS: Mapping[str, Metric] = {m.name: m for m in _ROWS}
CLASSIFIER_METRICS = tuple(m.name for m in _ROWS if m.task == "classifier")
REGRESSOR_METRICS = tuple(m.name for m in _ROWS if m.task == "regressor")


def metrics_of(task: Task) -> tuple[str, ...]:
    """The metrics of one task, in table order."""
    return CLASSIFIER_METRICS if task == "classifier" else REGRESSOR_METRICS


def primary_metric(task: Task) -> str:
    """The metric a model of ``task`` is judged by."""
    return next(m.name for m in _ROWS if m.task == task and m.primary)


def primary_among(names: Iterable[str]) -> str | None:
    """The primary metric among measured ``names`` (a mapping's keys, say), else the first
    known metric there, else ``None``.

    >>> primary_among({"mae": 1.0, "rmse": 2.0}), primary_among(["f1"]), primary_among([])
    ('rmse', 'f1', None)
    """
    present = [n for n in names if n in METRICS]
    return next((n for n in present if METRICS[n].primary), present[0] if present else None)


def gain(name: str, value: float, baseline: float) -> float:
    """How much better ``value`` is than ``baseline`` on metric ``name`` (negative when it
    is worse; NaN in, NaN out). ``KeyError`` for a metric not in the table."""
    return METRICS[name].sign * (value - baseline)


def is_better(name: str, a: float, b: float) -> bool:
    """Whether ``a`` is strictly better than ``b`` on metric ``name`` (never with a NaN)."""
    return gain(name, a, b) > 0
