"""Metric fields of the spec: checked against the one metric table
(``operators.metric_table``) when the YAML loads, and against each other's task.

>>> known_metric("acuracy")
Traceback (most recent call last):
...
ValueError: unknown metric (did you mean 'accuracy'?). Allowed here: accuracy, precision, ...
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from pydantic import AfterValidator, WithJsonSchema

from streaminfer.operators.metric_table import METRICS, Task, metrics_of
from streaminfer.pipelines.spec.config_io import did_you_mean


def known_metric(name: str) -> str:
    """``name`` when the metric table has it, else a did-you-mean error listing the table."""
    if name not in METRICS:
        raise ValueError(f"unknown metric{did_you_mean(name, METRICS)}. Allowed here: "
                         f"{', '.join(METRICS)}")
    return name


#: A metric name of the table; the JSON Schema (and so docs/configuration.md) lists them.
MetricName = Annotated[
    str, AfterValidator(known_metric),
    WithJsonSchema({"type": "string", "enum": list(METRICS)}),
]


def one_task(named: Mapping[str, str], task: tuple[str, Task] | None = None) -> None:
    """Metrics that judge one model must be of one task: ``named`` maps where each was given
    (``retrain.gate.0.metric``) to its name; ``task``: what else says the model's task (and
    where), if anything. A ``ValueError`` names the two that differ. A name the table lacks
    is left to :func:`known_metric`."""
    first = task
    for where, name in named.items():
        metric = METRICS.get(name)
        if metric is None:
            continue
        if first is None:
            first = (f"{where} ({name!r})", metric.task)
        elif first[1] != metric.task:
            raise ValueError(
                f"{where} is {name!r}, a {metric.task} metric, but {first[0]} says the model "
                f"is a {first[1]}: they judge the same model; use {first[1]} metrics "
                f"({', '.join(metrics_of(first[1]))}) or {metric.task} metrics "
                f"({', '.join(metrics_of(metric.task))}) throughout")
