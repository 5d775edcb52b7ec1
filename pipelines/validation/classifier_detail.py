"""A classifier's detail for the report: per-class metrics (with the macro and weighted
averages), the confusion matrix normalized by true class, the precision-recall curve with
threshold marks, and calibration bins with their row counts. All scikit-learn's."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn import metrics as skm

#: Thresholds on the positive-class probability marked on the precision-recall curve.
THRESHOLD_MARKS = (0.3, 0.5, 0.7)
CALIBRATION_BINS = 10


def per_class(labels: np.ndarray, predicted: np.ndarray, classes: int,
              names: list[str] | None = None) -> dict[str, Any]:
    """Precision, recall, F1 and support of each class, and their ``macro`` (unweighted
    mean over classes) and ``weighted`` (by support) averages."""
    index = list(range(classes))
    p, r, f, s = skm.precision_recall_fscore_support(labels, predicted, labels=index,
                                                     zero_division=0)
    rows = [{"class": i, "name": names[i] if names else str(i), "precision": float(p[i]),
             "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])} for i in index]
    averages = {}
    for average in ("macro", "weighted"):
        ap, ar, af, _ = skm.precision_recall_fscore_support(
            labels, predicted, labels=index, average=average, zero_division=0)
        averages[average] = {"precision": float(ap), "recall": float(ar), "f1": float(af),
                             "support": int(s.sum())}
    return {"classes": rows, "averages": averages}


def normalized_confusion(matrix: np.ndarray) -> list[list[float]]:
    """Each row of a confusion matrix as percentages of its true class's rows (a class
    without rows: zeros)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    totals = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
    percent: list[list[float]] = (share * 100).tolist()
    return percent


def pr_curve(positive: np.ndarray, score: np.ndarray,
             marks: tuple[float, ...] = THRESHOLD_MARKS) -> dict[str, Any]:
    """The precision-recall curve of the positive-class probability, its average precision,
    and precision and recall when predicting positive at probability >= each of ``marks``."""
    precision, recall, thresholds = skm.precision_recall_curve(positive, score)
    at = []
    for threshold in marks:
        chosen = score >= threshold
        hits = int((chosen & positive).sum())
        at.append({"threshold": threshold, "rows_positive": int(chosen.sum()),
                   "precision": hits / int(chosen.sum()) if chosen.any() else None,
                   "recall": hits / int(positive.sum()) if positive.any() else None})
    return {"precision": precision.tolist(), "recall": recall.tolist(),
            "thresholds": thresholds.tolist(),
            "average_precision": float(skm.average_precision_score(positive, score)),
            "marks": at}


def calibration(outcomes: np.ndarray, confidence: np.ndarray, bins: int = CALIBRATION_BINS,
                ) -> dict[str, list[float]]:
    """Per equal-width confidence bin (as ``calibration_error`` bins): its range, mean
    confidence, observed rate and rows; empty bins left out."""
    which = np.minimum((confidence * bins).astype(np.int64), bins - 1)
    counts = np.bincount(which, minlength=bins)
    used = counts > 0
    mean_conf = np.bincount(which, weights=confidence, minlength=bins)[used] / counts[used]
    observed = np.bincount(which, weights=outcomes, minlength=bins)[used] / counts[used]
    lower = np.arange(bins)[used] / bins
    return {"bin_from": lower.tolist(), "bin_to": (lower + 1 / bins).tolist(),
            "confidence": mean_conf.tolist(), "observed": observed.tolist(),
            "rows": counts[used].astype(float).tolist()}
