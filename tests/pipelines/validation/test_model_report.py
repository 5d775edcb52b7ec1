"""Validation judges a model over time by the metric table's primary metric of its task,
computed by the shared definition (the same metric optimize judges by)."""

from __future__ import annotations

import numpy as np
import pytest

from streaminfer.operators import metric_table
from streaminfer.operators.metric_table import METRICS, Task, is_better
from streaminfer.operators.quality import classifier_metrics, regressor_metrics
from streaminfer.pipelines.validation.model_report import primary_metric, primary_value

RNG = np.random.default_rng(5)
LABELS = RNG.integers(0, 2, 300)
TARGETS = RNG.normal(0, 10, 300)


def predictions(task: Task, noise: float) -> np.ndarray:
    if task == "regressor":
        return TARGETS + RNG.normal(0, noise, len(TARGETS))
    p1 = np.clip(np.where(LABELS == 1, 0.8, 0.2) + RNG.normal(0, noise / 10, len(LABELS)),
                 0.01, 0.99)
    return np.column_stack([1 - p1, p1])


@pytest.mark.parametrize("task", metric_table.TASKS)
def test_the_primary_metric_is_the_tables_and_computed_by_quality(task: Task) -> None:
    name = primary_metric(task)
    assert name == metric_table.primary_metric(task) and METRICS[name].primary
    values = predictions(task, 2.0)
    expected = (classifier_metrics(LABELS, values, [0, 1]) if task == "classifier"
                else regressor_metrics(TARGETS, values))[name]
    y = LABELS if task == "classifier" else TARGETS
    assert primary_value(task, y, values) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("task", metric_table.TASKS)
def test_better_predictions_have_a_better_primary_value(task: Task) -> None:
    y = LABELS if task == "classifier" else TARGETS
    good = primary_value(task, y, predictions(task, 0.5))
    bad = primary_value(task, y, predictions(task, 6.0))
    assert is_better(primary_metric(task), good, bad), (good, bad)
