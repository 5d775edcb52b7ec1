"""Live windows: bounded by size and age, merged across joiners, metrics equal scikit-learn's."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from streaminfer.operators.live_window import LiveWindow, merge_rows, window_metrics


def test_the_window_keeps_the_last_rows_per_model_and_version() -> None:
    window = LiveWindow(size=3, max_age_ms=1_000)
    for i in range(5):
        window.add("m", "v1", i % 2, [0.5, 0.5], labelled_at_ms=100 * i, delay_ms=i)
    window.add("m", "v2", 1, 3.0, labelled_at_ms=450, delay_ms=9)
    rows = window.rows(now_ms=450)
    assert [r[0] for r in rows[("m", "v1")]] == [200, 300, 400]
    assert rows[("m", "v2")] == [(450, 1, 3.0, 9)]
    assert [r[0] for r in window.rows(now_ms=1_350)[("m", "v1")]] == [400]  # 350 is too old
    assert window.rows(now_ms=5_000) == {}


def test_merging_keeps_the_most_recently_labelled() -> None:
    a = {("m", "v"): [(1, 0, 1.0, 0), (5, 0, 1.0, 0)]}
    b = {("m", "v"): [(3, 1, 2.0, 0), (4, 1, 2.0, 0)], ("n", "v"): [(2, 1, 0.0, 0)]}
    merged = merge_rows([a, b], size=3)
    assert [r[0] for r in merged[("m", "v")]] == [3, 4, 5]
    assert merged[("n", "v")] == [(2, 1, 0.0, 0)]


def test_classifier_window_metrics_equal_sklearns() -> None:
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 400)
    p1 = np.clip(labels * 0.5 + rng.random(400) * 0.5, 0.0, 1.0)
    delays = rng.integers(0, 10_000, 400)
    rows = [(i, int(y), [1 - float(p), float(p)], int(d))
            for i, (y, p, d) in enumerate(zip(labels, p1, delays, strict=True))]
    m = window_metrics(rows, classes=None)
    predicted = (p1 >= 0.5).astype(int)
    proba = np.column_stack([1 - p1, p1])
    assert m["examples"] == 400
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(labels, predicted))
    assert m["precision"] == pytest.approx(skm.precision_score(labels, predicted))
    assert m["recall"] == pytest.approx(skm.recall_score(labels, predicted))
    assert m["f1"] == pytest.approx(skm.f1_score(labels, predicted))
    assert m["log_loss"] == pytest.approx(skm.log_loss(labels, proba))
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(labels, p1))
    assert m["label_delay_p50_ms"] == pytest.approx(np.percentile(delays, 50))
    assert m["label_delay_p95_ms"] == pytest.approx(np.percentile(delays, 95))


def test_regressor_window_metrics_equal_sklearns() -> None:
    rng = np.random.default_rng(5)
    y = rng.normal(100, 20, 300)
    pred = y + rng.normal(0, 5, 300)
    rows = [(i, float(t), float(p), 0) for i, (t, p) in enumerate(zip(y, pred, strict=True))]
    m = window_metrics(rows, classes=None)
    assert m["mae"] == pytest.approx(skm.mean_absolute_error(y, pred))
    assert m["rmse"] == pytest.approx(math.sqrt(skm.mean_squared_error(y, pred)))
    assert m["r2"] == pytest.approx(skm.r2_score(y, pred))
    assert "accuracy" not in m


def test_an_empty_window_has_no_metrics_and_one_class_has_no_auc() -> None:
    assert window_metrics([], classes=None)["examples"] == 0
    m = window_metrics([(0, 1, [0.2, 0.8], 5), (1, 1, [0.4, 0.6], 7)], classes=None)
    assert m["accuracy"] == 1.0 and math.isnan(m["roc_auc"])


def test_named_classes_follow_the_probability_order() -> None:
    rows = [(0, "spam", [0.1, 0.9], 0), (1, "ham", [0.8, 0.2], 0), (2, "ham", [0.3, 0.7], 0)]
    m = window_metrics(rows, classes=["ham", "spam"])
    assert m["accuracy"] == pytest.approx(2 / 3)
