"""Confidence intervals of the quality metrics: bootstrap percentile intervals.

Rows are resampled with replacement :data:`RESAMPLES` times from a generator seeded with
:data:`SEED` (the same rows give the same intervals); each metric is computed on every
resample by the definitions of ``operators.quality`` (vectorized over resamples, since 1,000
calls of scikit-learn take ~45 s) and the interval is the 2.5th to 97.5th percentile. A
resample where a metric is undefined (ROC AUC with one class) is left out of that metric.

>>> import numpy as np
>>> y = np.array([0, 1] * 50)
>>> p1 = np.where(y == 1, 0.7, 0.3)
>>> lo, hi = classifier_intervals(y, np.column_stack([1 - p1, p1]), 2)["accuracy"]
>>> lo, hi
(1.0, 1.0)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np

from streaminfer.operators.metric_table import CLASSIFIER_METRICS, REGRESSOR_METRICS

RESAMPLES = 1000
SEED = 0
LEVEL = 0.95
CHUNK = 100  # resamples per vectorized step at most
CELLS = 2_000_000  # and at most this many drawn rows per step (memory, and cache: 4x faster)
CALIBRATION_BINS = 10

Interval = tuple[float, float]


def resample_indices(rows: int, resamples: int = RESAMPLES, seed: int = SEED,
                     ) -> Iterator[np.ndarray]:
    """The bootstrap's row indices, ``[k, rows]`` blocks of at most :data:`CHUNK` resamples
    and :data:`CELLS` cells, from one generator seeded ``seed`` (so a test can redraw the
    same resamples)."""
    rng = np.random.default_rng(seed)
    chunk = max(1, min(CHUNK, CELLS // max(rows, 1)))
    for start in range(0, resamples, chunk):
        yield rng.integers(0, rows, size=(min(chunk, resamples - start), rows))


def percentile_interval(values: np.ndarray, level: float = LEVEL) -> Interval:
    """The central ``level`` percentile interval of ``values`` (NaNs left out; NaN if all
    are)."""
    finite = values[~np.isnan(values)]
    if len(finite) == 0:
        return (math.nan, math.nan)
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(finite, [tail, 100 - tail])
    return (float(lo), float(hi))


def _intervals(rows: int, per_resample: Callable[[np.ndarray], dict[str, np.ndarray]],
               names: tuple[str, ...], resamples: int, seed: int) -> dict[str, Interval]:
    if rows == 0:
        return dict.fromkeys(names, (math.nan, math.nan))
    draws: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for index in resample_indices(rows, resamples, seed):
        for name, values in per_resample(index).items():
            draws[name].append(values)
    return {name: percentile_interval(np.concatenate(draws[name])) for name in names}


def classifier_intervals(labels: np.ndarray, probabilities: np.ndarray, classes: int, *,
                         resamples: int = RESAMPLES, seed: int = SEED) -> dict[str, Interval]:
    """Interval of every classifier metric; ``labels`` are class indices ``0..classes-1``
    and ``probabilities`` ``[n, classes]`` (binary: class 1 is the positive one)."""
    labels = np.asarray(labels, dtype=np.int64)
    proba = np.asarray(probabilities, dtype=np.float64)
    totals = proba.sum(axis=1, keepdims=True)
    if np.all(totals > 0):
        proba = proba / totals
    predicted = np.argmax(proba, axis=1)
    binary = classes == 2
    eps = np.finfo(np.float64).eps
    given = np.clip(np.clip(proba, 1e-15, 1.0)[np.arange(len(labels)), labels], eps, 1 - eps)
    row_loss = -np.log(given)
    confidence = proba[:, 1] if binary else proba.max(axis=1)
    outcome = (labels == 1) if binary else (labels == predicted)
    which = np.minimum((confidence * CALIBRATION_BINS).astype(np.int64), CALIBRATION_BINS - 1)
    levels = np.unique(proba[:, 1], return_inverse=True)[1].ravel() if binary else which

    def per_resample(index: np.ndarray) -> dict[str, np.ndarray]:
        k, n = index.shape
        y, p = labels[index], predicted[index]
        offset = np.arange(k)[:, None]
        cells = np.bincount((offset * classes * classes + y * classes + p).ravel(),
                            minlength=k * classes * classes).reshape(k, classes, classes)
        tp = np.diagonal(cells, axis1=1, axis2=2).astype(np.float64)
        per_pred, per_true = cells.sum(axis=1), cells.sum(axis=2)
        precision = np.divide(tp, per_pred, out=np.zeros_like(tp), where=per_pred > 0)
        recall = np.divide(tp, per_true, out=np.zeros_like(tp), where=per_true > 0)
        f1_den = per_pred + per_true
        f1 = np.divide(2 * tp, f1_den, out=np.zeros_like(tp), where=f1_den > 0)
        pick: Callable[[np.ndarray], np.ndarray] = (
            (lambda v: v[:, 1]) if binary else (lambda v: v.mean(axis=1)))
        slots = (offset * CALIBRATION_BINS + which[index]).ravel()
        size = k * CALIBRATION_BINS
        gaps = np.abs(np.bincount(slots, weights=confidence[index].ravel(), minlength=size)
                      - np.bincount(slots, weights=outcome[index].ravel().astype(np.float64),
                                    minlength=size)).reshape(k, CALIBRATION_BINS)
        return {"accuracy": (y == p).mean(axis=1), "precision": pick(precision),
                "recall": pick(recall), "f1": pick(f1), "log_loss": row_loss[index].mean(axis=1),
                "roc_auc": (_auc(labels == 1, levels, index) if binary
                            else np.full(k, math.nan)),
                "calibration_error": gaps.sum(axis=1) / n}

    return _intervals(len(labels), per_resample, CLASSIFIER_METRICS, resamples, seed)


def _auc(positive: np.ndarray, groups: np.ndarray, index: np.ndarray) -> np.ndarray:
    """ROC AUC of each resample (a row of ``index``): Mann-Whitney with ties as halves, from
    the positives and negatives drawn per score level (``groups``: each row's rank among
    the distinct scores); NaN where a resample has one class."""
    k = index.shape[0]
    size = int(groups.max()) + 1
    slots = (np.arange(k)[:, None] * size + groups[index]).ravel()
    drawn_pos = positive[index].ravel().astype(np.float64)
    pos = np.bincount(slots, weights=drawn_pos, minlength=k * size).reshape(k, size)
    neg = np.bincount(slots, weights=1 - drawn_pos, minlength=k * size).reshape(k, size)
    below = np.cumsum(neg, axis=1) - neg  # negatives with a lower score
    n_pos, n_neg = pos.sum(axis=1), neg.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = (pos * (below + neg / 2)).sum(axis=1) / (n_pos * n_neg)
    return np.where((n_pos > 0) & (n_neg > 0), auc, math.nan)


def regressor_intervals(targets: np.ndarray, predicted: np.ndarray, *,
                        resamples: int = RESAMPLES, seed: int = SEED) -> dict[str, Interval]:
    """Interval of every regressor metric (MAE, RMSE, R^2)."""
    targets = np.asarray(targets, dtype=np.float64)
    error = targets - np.asarray(predicted, dtype=np.float64).reshape(len(targets))

    def per_resample(index: np.ndarray) -> dict[str, np.ndarray]:
        e, t = error[index], targets[index]
        squares = (e ** 2).sum(axis=1)
        spread = ((t - t.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = np.where(spread > 0, 1 - squares / spread, math.nan)
        return {"mae": np.abs(e).mean(axis=1), "rmse": np.sqrt(squares / index.shape[1]),
                "r2": r2}

    return _intervals(len(targets), per_resample, REGRESSOR_METRICS, resamples, seed)
