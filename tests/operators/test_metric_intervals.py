"""The bootstrap intervals equal the percentiles of scikit-learn's metrics computed here on
the same resamples, one call per resample."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from streaminfer.operators.metric_intervals import (
    classifier_intervals,
    regressor_intervals,
    resample_indices,
)
from streaminfer.operators.quality import calibration_error

RESAMPLES = 40
RNG = np.random.default_rng(11)


def _expected(rows: int, measure: dict) -> dict[str, tuple[float, float]]:  # type: ignore[type-arg]
    draws: dict[str, list[float]] = {name: [] for name in measure}
    for block in resample_indices(rows, RESAMPLES, seed=3):
        for index in block:
            for name, fn in measure.items():
                draws[name].append(fn(index))
    out = {}
    for name, values in draws.items():
        kept = [v for v in values if not math.isnan(v)]
        lo, hi = np.percentile(kept, [2.5, 97.5])
        out[name] = (float(lo), float(hi))
    return out


@pytest.mark.parametrize("classes", [2, 4])
def test_classifier_intervals_are_sklearns_percentiles(classes: int) -> None:
    n = 150
    y = RNG.integers(0, classes, n)
    raw = RNG.random((n, classes)) + 1.5 * np.eye(classes)[y] * RNG.random((n, 1))
    proba = raw / raw.sum(axis=1, keepdims=True)
    pred = proba.argmax(axis=1)
    labels = list(range(classes))
    avg = "binary" if classes == 2 else "macro"
    conf = proba[:, 1] if classes == 2 else proba.max(axis=1)
    hit = (y == 1) if classes == 2 else (y == pred)
    measure = {
        "accuracy": lambda i: skm.accuracy_score(y[i], pred[i]),
        "precision": lambda i: skm.precision_score(y[i], pred[i], average=avg, labels=labels,
                                                   zero_division=0),
        "recall": lambda i: skm.recall_score(y[i], pred[i], average=avg, labels=labels,
                                             zero_division=0),
        "f1": lambda i: skm.f1_score(y[i], pred[i], average=avg, labels=labels,
                                     zero_division=0),
        "log_loss": lambda i: skm.log_loss(y[i], proba[i], labels=labels),
        "calibration_error": lambda i: calibration_error(hit[i], conf[i]),
    }
    if classes == 2:
        measure["roc_auc"] = lambda i: (skm.roc_auc_score(y[i], proba[i, 1])
                                        if len(set(y[i])) == 2 else math.nan)
    got = classifier_intervals(y, proba, classes, resamples=RESAMPLES, seed=3)
    for name, interval in _expected(n, measure).items():
        assert got[name] == pytest.approx(interval, abs=1e-9), name
    if classes > 2:
        assert all(math.isnan(v) for v in got["roc_auc"])
    point = skm.accuracy_score(y, pred)
    assert got["accuracy"][0] <= point <= got["accuracy"][1]


def test_regressor_intervals_are_sklearns_percentiles() -> None:
    n = 120
    t = RNG.normal(0, 5, n)
    p = t + RNG.normal(0, 2, n)
    got = regressor_intervals(t, p, resamples=RESAMPLES, seed=3)
    expected = _expected(n, {
        "mae": lambda i: skm.mean_absolute_error(t[i], p[i]),
        "rmse": lambda i: math.sqrt(skm.mean_squared_error(t[i], p[i])),
        "r2": lambda i: skm.r2_score(t[i], p[i]),
    })
    for name, interval in expected.items():
        assert got[name] == pytest.approx(interval, rel=1e-9), name


def test_the_seed_fixes_the_intervals_and_more_rows_narrow_them() -> None:
    y = RNG.integers(0, 2, 2000)
    p1 = np.clip(np.where(y == 1, 0.7, 0.3) + RNG.normal(0, 0.2, 2000), 0, 1)
    proba = np.column_stack([1 - p1, p1])
    a = classifier_intervals(y, proba, 2, resamples=300)
    assert a == classifier_intervals(y, proba, 2, resamples=300)
    small = classifier_intervals(y[:200], proba[:200], 2, resamples=300)
    width = {k: v[1] - v[0] for k, v in a.items()}
    assert all(width[k] < small[k][1] - small[k][0] for k in width)
