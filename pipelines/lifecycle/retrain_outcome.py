"""What an automatic retraining says when it ends: pure functions from its result (or its
error) to the ``candidate`` alert's numbers and message.

>>> failure_reason(ValueError("only one class"))
'ValueError: only one class'
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from streaminfer.errors import StreamInferError
from streaminfer.operators.metric_table import primary_among

if TYPE_CHECKING:
    from streaminfer.pipelines.lifecycle.retrain import RetrainResult


@dataclass(frozen=True)
class CandidateNote:
    """The ``candidate`` alert's fields."""

    version: str | None
    metric: str | None
    value: float | None
    threshold: float | None
    window: str | None
    message: str


def candidate_note(result: RetrainResult, metric: str | None, then: str) -> CandidateNote:
    """A finished retraining: the version, the gate's verdict with its reason, and
    ``metric`` (the gate's first rule's, else the primary one measured) of the candidate
    against the champion's on the same holdout."""
    name = metric or primary_among(result.metrics)
    value = _number(result.metrics.get(name)) if name else None
    base = _number((result.champion_metrics or {}).get(name)) if name else None
    version = result.version.version
    against = ""
    if name is not None and value is not None:
        against = f"; holdout {name} {value:.4f}" + (
            f" (champion version {result.champion.version}: {base:.4f})"
            if base is not None and result.champion is not None else "")
    where = f" on {result.train_count} examples"
    if result.gate.passed:
        after = f" and set as the {then}" if then != "register" else ""
        message = (f"version {version} trained{where}, gate passed: registered as "
                   f"{', '.join(result.version.aliases) or 'a version'}{after}{against}")
    else:
        message = (f"version {version} trained{where}, gate rejected it: "
                   f"{result.gate.reason}{against}")
    return CandidateNote(version, name, value, base, f"{result.holdout_count} holdout examples",
                         message)


def failure_reason(error: BaseException) -> str:
    """One line saying why a retraining failed: a streaminfer error's own line, else the
    exception's type and text (a Ray task's error is unwrapped to its cause)."""
    cause: Any = getattr(error, "cause", None)
    if isinstance(cause, BaseException):
        error = cause
    if isinstance(error, StreamInferError):
        return str(error)
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[-1] if text else 'no message'}"


def _number(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else float(value)
