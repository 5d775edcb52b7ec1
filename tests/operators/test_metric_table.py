"""The one metric table: it names exactly what quality computes, one primary per task, and
each direction is the one the metric really has (better predictions move it that way)."""

from __future__ import annotations

import doctest
import importlib
import math

import numpy as np
import pytest

from streaminfer.operators.metric_table import (
    CLASSIFIER_METRICS,
    METRICS,
    REGRESSOR_METRICS,
    TASKS,
    Task,
    gain,
    is_better,
    primary_among,
    primary_metric,
)
from streaminfer.operators.quality import classifier_metrics, regressor_metrics


def test_the_table_names_exactly_the_metrics_quality_computes() -> None:
    labels = np.array([0, 1, 1, 0])
    proba = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.9, 0.1]])
    assert set(classifier_metrics(labels, proba, [0, 1])) == set(CLASSIFIER_METRICS)
    assert set(regressor_metrics(np.array([1.0, 2.0]), np.array([1.5, 2.5]))) == \
        set(REGRESSOR_METRICS)
    assert set(METRICS) == set(CLASSIFIER_METRICS) | set(REGRESSOR_METRICS)
    assert all(m.description.strip() for m in METRICS.values())


@pytest.mark.parametrize("task", TASKS)
def test_each_task_has_exactly_one_primary_metric(task: Task) -> None:
    primaries = [m.name for m in METRICS.values() if m.task == task and m.primary]
    assert primaries == [primary_metric(task)]


def test_each_direction_is_the_metrics_own() -> None:
    """Sharper, right predictions score better than vaguer, partly wrong ones on every
    metric, in the direction the table gives."""
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 400)
    sharp = np.where(labels == 1, 0.99, 0.01)
    vague = np.clip(np.where(labels == 1, 0.6, 0.4) + rng.normal(0, 0.25, 400), 0.01, 0.99)
    good = classifier_metrics(labels, np.column_stack([1 - sharp, sharp]), [0, 1])
    bad = classifier_metrics(labels, np.column_stack([1 - vague, vague]), [0, 1])
    targets = rng.normal(0, 10, 400)
    good |= regressor_metrics(targets, targets + rng.normal(0, 0.5, 400))
    bad |= regressor_metrics(targets, targets + rng.normal(0, 5, 400))
    for name in METRICS:
        assert is_better(name, good[name], bad[name]), (name, good[name], bad[name])
        assert not is_better(name, bad[name], good[name]), name


def test_gain_is_positive_when_better_and_nan_stays_nan() -> None:
    assert math.isclose(gain("accuracy", 0.9, 0.8), 0.1)
    assert math.isclose(gain("calibration_error", 0.02, 0.10), 0.08)
    assert math.isclose(gain("rmse", 3.0, 2.0), -1.0)
    assert math.isnan(gain("r2", math.nan, 0.5)) and not is_better("r2", math.nan, 0.5)
    with pytest.raises(KeyError):
        gain("brier", 0.1, 0.2)


def test_the_primary_among_measured_metrics() -> None:
    assert primary_among({"f1": 0.5, "accuracy": 0.7, "examples": 9}) == "accuracy"
    assert primary_among({"mae": 1.0, "rmse": 2.0}) == "rmse"
    assert primary_among({"examples": 3.0}) is None


@pytest.mark.parametrize("name", [
    "streaminfer.operators.metric_table",
    "streaminfer.pipelines.spec.metric_names",
    "streaminfer.pipelines.spec.config_io",
    "streaminfer.pipelines.optimize.compare",
    "streaminfer.pipelines.lifecycle.rollback_rule",
    "streaminfer.pipelines.lifecycle.promote_rule",
    "streaminfer.pipelines.lifecycle.retrain_policy",
    "streaminfer.pipelines.lifecycle.gate",
])
def test_the_examples_in_the_metric_modules_run(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
