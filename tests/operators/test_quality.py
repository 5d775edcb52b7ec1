"""Metrics of prediction quality: scikit-learn's numbers, NaN where undefined."""

from __future__ import annotations

import math

import numpy as np
from sklearn import metrics as skm

from streaminfer.operators.quality import (
    calibration_error,
    classifier_metrics,
    regressor_metrics,
)


def test_binary_metrics_are_sklearns() -> None:
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 2, 500)
    p1 = np.clip(labels * 0.6 + rng.random(500) * 0.4, 0, 1)
    proba = np.column_stack([1 - p1, p1])
    got = classifier_metrics(labels, proba, classes=[0, 1])
    predicted = (p1 >= 0.5).astype(int)
    assert got["accuracy"] == skm.accuracy_score(labels, predicted)
    assert got["f1"] == skm.f1_score(labels, predicted)
    assert got["roc_auc"] == skm.roc_auc_score(labels, p1)
    assert math.isclose(got["log_loss"], skm.log_loss(labels, proba))


def test_multiclass_uses_macro_averages_and_no_auc() -> None:
    labels = np.array(["a", "b", "c", "a"])
    proba = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.6, 0.2, 0.2], [0.3, 0.3, 0.4]])
    got = classifier_metrics(labels, proba, classes=["a", "b", "c"])
    predicted = np.array(["a", "b", "a", "c"])
    assert got["f1"] == skm.f1_score(labels, predicted, average="macro", zero_division=0)
    assert math.isnan(got["roc_auc"])


def test_class_names_out_of_sorted_order_give_the_same_metrics_as_indices() -> None:
    """``classes: [legit, fraud]`` (the mixed fraud example): scikit-learn's log loss reads
    columns in sorted order, so they are sorted for it (a log loss of ~11 before)."""
    labels = np.array([0, 1, 0, 0, 1, 0])
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.6, 0.4], [0.4, 0.6], [0.8, 0.2]])
    by_index = classifier_metrics(labels, proba, classes=[0, 1])
    by_name = classifier_metrics(np.array(["legit", "fraud"])[labels], proba,
                                 classes=["legit", "fraud"])
    assert by_name == by_index
    # by hand: the mean of -log P(true class)
    assert math.isclose(by_name["log_loss"], -np.mean(np.log([0.9, 0.8, 0.7, 0.6, 0.6, 0.8])))


def test_one_class_window_has_no_auc_but_other_metrics() -> None:
    got = classifier_metrics(np.array([1, 1]), np.array([[0.2, 0.8], [0.7, 0.3]]), [0, 1])
    assert math.isnan(got["roc_auc"])
    assert got["accuracy"] == 0.5


def test_calibration_error_by_hand() -> None:
    # bin 0.8-0.9: confidences 0.8, 0.8 with outcomes 1, 0 -> gap |0.8 - 0.5| on 2 of 4 rows;
    # bin 0.2-0.3: confidences 0.2, 0.2 with outcomes 0, 0 -> gap 0.2 on 2 of 4 rows.
    got = calibration_error(np.array([1, 0, 0, 0]), np.array([0.8, 0.8, 0.2, 0.2]))
    assert math.isclose(got, 0.5 * 0.3 + 0.5 * 0.2)


def test_regressor_metrics_are_sklearns() -> None:
    y = np.array([1.0, 2.0, 4.0])
    yhat = np.array([1.5, 2.0, 3.0])
    got = regressor_metrics(y, yhat)
    assert got["mae"] == skm.mean_absolute_error(y, yhat)
    assert math.isclose(got["rmse"], math.sqrt(skm.mean_squared_error(y, yhat)))
    assert got["r2"] == skm.r2_score(y, yhat)
    assert math.isnan(regressor_metrics(y[:1], yhat[:1])["r2"])
