"""How well predictions match outcomes: one definition for live, offline and retraining.

Every metric is scikit-learn's where it has one, so our numbers and a user's notebook agree.
Which metrics there are, and which way each is better: ``operators.metric_table``.
Where a metric is undefined on the data (ROC AUC with one class, R^2 with one row), it is NaN,
never an exception: a window of live traffic can be like that.

>>> import numpy as np
>>> m = classifier_metrics(np.array([0, 1, 1]), np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]),
...                        classes=[0, 1])
>>> round(m["accuracy"], 3), round(m["roc_auc"], 3)
(0.667, 1.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn import metrics as skm

from streaminfer.operators.metric_table import CLASSIFIER_METRICS, REGRESSOR_METRICS


def classifier_metrics(
    labels: np.ndarray, probabilities: np.ndarray, classes: Sequence[Any],
) -> dict[str, float]:
    """Accuracy, precision, recall, F1, log loss, ROC AUC and calibration error.

    ``probabilities`` is ``[n, k]`` in the order of ``classes``. Binary problems take
    ``classes[1]`` as the positive class; with more classes precision, recall and F1 are
    macro averages and ROC AUC is NaN.
    """
    labels = np.asarray(labels)
    proba = np.asarray(probabilities, dtype=np.float64)
    # float32 outputs sum to 1 only within float32 precision: scale each row to exactly 1
    # in float64 (scikit-learn warns otherwise).
    totals = proba.sum(axis=1, keepdims=True) if proba.ndim == 2 else None
    if totals is not None and np.all(totals > 0):
        proba = proba / totals
    n = len(labels)
    if n == 0:
        return dict.fromkeys(CLASSIFIER_METRICS, math.nan)
    predicted = np.asarray(classes)[np.argmax(proba, axis=1)]
    binary = len(classes) == 2
    average = "binary" if binary else "macro"
    pos = classes[1] if binary else 1
    scores = {
        "accuracy": float(skm.accuracy_score(labels, predicted)),
        "precision": float(skm.precision_score(
            labels, predicted, average=average, pos_label=pos, labels=list(classes),
            zero_division=0)),
        "recall": float(skm.recall_score(
            labels, predicted, average=average, pos_label=pos, labels=list(classes),
            zero_division=0)),
        "f1": float(skm.f1_score(
            labels, predicted, average=average, pos_label=pos, labels=list(classes),
            zero_division=0)),
        "log_loss": _log_loss(labels, proba, classes),
        "roc_auc": math.nan,
        "calibration_error": calibration_error(
            (labels == pos).astype(np.float64) if binary else (labels == predicted),
            proba[:, 1] if binary else proba.max(axis=1),
        ),
    }
    if binary and len(np.unique(labels)) == 2:
        scores["roc_auc"] = float(skm.roc_auc_score(labels == pos, proba[:, 1]))
    return scores


def _log_loss(labels: np.ndarray, proba: np.ndarray, classes: Sequence[Any]) -> float:
    """scikit-learn's log loss, which reads the columns in the sorted order of the classes:
    ``proba``'s columns (in the order of ``classes``, e.g. ``[legit, fraud]``) are sorted so."""
    order = sorted(range(len(classes)), key=lambda i: classes[i])
    return float(skm.log_loss(labels, np.clip(proba[:, order], 1e-15, 1.0),
                              labels=[classes[i] for i in order]))


def regressor_metrics(targets: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """MAE, RMSE and R^2 (NaN with fewer than two rows)."""
    targets = np.asarray(targets, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.float64).reshape(len(targets))
    if len(targets) == 0:
        return dict.fromkeys(REGRESSOR_METRICS, math.nan)
    return {
        "mae": float(skm.mean_absolute_error(targets, predicted)),
        "rmse": float(math.sqrt(skm.mean_squared_error(targets, predicted))),
        "r2": float(skm.r2_score(targets, predicted)) if len(targets) > 1 else math.nan,
    }


def calibration_error(outcomes: np.ndarray, confidence: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: the row-weighted mean gap between mean confidence and the
    observed rate, over ``bins`` equal-width confidence bins."""
    outcomes = np.asarray(outcomes, dtype=np.float64)
    confidence = np.asarray(confidence, dtype=np.float64)
    if len(outcomes) == 0:
        return math.nan
    which = np.minimum((confidence * bins).astype(np.int64), bins - 1)
    counts = np.bincount(which, minlength=bins)
    gap_sums = np.abs(np.bincount(which, weights=confidence, minlength=bins)
                      - np.bincount(which, weights=outcomes, minlength=bins))
    return float(gap_sums.sum() / counts.sum())
