"""Live validation: a sliding window of labelled examples per model and version, and its metrics.

Each joiner keeps a :class:`LiveWindow`; the driver merges the rows of every joiner
(:func:`merge_rows`) and computes the metrics once over all of them (:func:`window_metrics`),
with the shared definitions in :mod:`streaminfer.operators.quality`.

>>> window = LiveWindow(size=3, max_age_ms=60_000)
>>> for i, (label, p1) in enumerate([(1, 0.9), (0, 0.2), (1, 0.4)]):
...     window.add("m", "v1", label, [1 - p1, p1], labelled_at_ms=1000 + i, delay_ms=50 * i)
>>> m = window_metrics(window.rows(now_ms=2000)[("m", "v1")], classes=None)
>>> m["examples"], round(m["accuracy"], 3), m["label_delay_p50_ms"]
(3, 0.667, 50.0)
"""

from __future__ import annotations

import math
import warnings
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

#: One labelled example as the window keeps it: (labelled_at_ms, label, score, delay_ms),
#: ``score`` being the class probabilities (a list) or a regressor's value (a number).
Row = tuple[int, Any, Any, int]
Key = tuple[str, str]


class LiveWindow:
    """The last ``size`` examples per (model, version), none older than ``max_age_ms``."""

    def __init__(self, size: int, max_age_ms: int) -> None:
        self.size = size
        self.max_age_ms = max_age_ms
        self._rows: dict[Key, deque[Row]] = {}

    def add(self, model: str, version: str, label: Any, score: Any, *, labelled_at_ms: int,
            delay_ms: int) -> None:
        rows = self._rows.get((model, version))
        if rows is None:
            rows = self._rows[(model, version)] = deque(maxlen=self.size)
        rows.append((labelled_at_ms, label, score, delay_ms))

    def rows(self, now_ms: int) -> dict[Key, list[Row]]:
        """The rows still in the window, per (model, version)."""
        oldest = now_ms - self.max_age_ms
        out = {}
        for key, rows in self._rows.items():
            while rows and rows[0][0] < oldest:
                rows.popleft()
            if rows:
                out[key] = list(rows)
        return out


def merge_rows(parts: Iterable[dict[Key, list[Row]]], size: int) -> dict[Key, list[Row]]:
    """The windows of several joiners as one: per key, the ``size`` most recently labelled."""
    merged: dict[Key, list[Row]] = {}
    for part in parts:
        for key, rows in part.items():
            merged.setdefault(key, []).extend(rows)
    return {key: sorted(rows, key=lambda row: row[0])[-size:] for key, rows in merged.items()}


def window_metrics(rows: Sequence[Row], classes: Sequence[Any] | None) -> dict[str, float]:
    """The quality metrics of one window (a classifier's when its scores are lists, else a
    regressor's), with its size and the label delay's median and 95th percentile."""
    # here, not at the top: scikit-learn takes seconds to import, and joiners and the CLI
    # import this module without computing metrics
    from streaminfer.operators.quality import classifier_metrics, regressor_metrics

    delays = np.array([row[3] for row in rows], dtype=np.float64)
    out: dict[str, float] = {
        "examples": len(rows),
        "label_delay_p50_ms": float(np.percentile(delays, 50)) if len(rows) else math.nan,
        "label_delay_p95_ms": float(np.percentile(delays, 95)) if len(rows) else math.nan,
    }
    if not rows:
        return out
    labels = [row[1] for row in rows]
    if isinstance(rows[0][2], list):
        proba = np.array([row[2] for row in rows], dtype=np.float64)
        known = list(classes) if classes is not None else list(range(proba.shape[1]))
        with warnings.catch_warnings():  # float32 probabilities sum to 1 within 1e-7 only
            warnings.filterwarnings("ignore", message="The y_prob values do not sum to one")
            out.update(classifier_metrics(np.asarray(labels), proba, known))
    else:
        out.update(regressor_metrics(np.asarray(labels, dtype=np.float64),
                                     np.array([row[2] for row in rows], dtype=np.float64)))
    return out
