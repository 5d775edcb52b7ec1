"""The primary metric per value of one field (``streaminfer validate --slice FIELD``).

The field is a column of the rows (a top-level field of each event) or one of the model's
features. Its :data:`TOP` most frequent values get a row each and the rest share ``other``;
a numeric field with more than :data:`TOP` distinct values is cut at its quartiles instead.
"""

from __future__ import annotations

from collections import Counter
from itertools import pairwise
from typing import Any

import numpy as np

from streaminfer.errors import DataError
from streaminfer.operators.labelled_rows import LabelledRows
from streaminfer.operators.metric_intervals import classifier_intervals, regressor_intervals
from streaminfer.operators.metric_table import Task, primary_metric
from streaminfer.operators.quality import classifier_metrics, regressor_metrics

TOP = 8
OTHER = "other"


def slice_values(data: LabelledRows, field: str) -> np.ndarray:
    """The value of ``field`` on every row, as labels (quartile ranges for a numeric field
    with many values); a clear error when no column or feature has that name."""
    if field in data.table.column_names:
        raw = data.table.column(field).to_pylist()
    elif field in data.features and data.X.shape[1] == len(data.features):
        raw = data.X[:, data.features.index(field)].tolist()
    elif data.events is not None and all(field in e for e in data.events[:1]):
        raw = [e.get(field) for e in data.events]
    else:
        raise DataError(f"--slice {field}: no such field in the rows; they have "
                        f"{', '.join(data.table.column_names)}")
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in raw)
    if numeric and len(set(raw)) > TOP:
        return quartile_labels(np.asarray(raw, dtype=np.float64))
    return np.asarray(["(missing)" if v is None else str(v) for v in raw], dtype=object)


def quartile_labels(values: np.ndarray) -> np.ndarray:
    """Each value as the quartile range it falls in (``<= q1``, ``q1 to q2``, ...)."""
    cuts = np.unique(np.quantile(values, [0.25, 0.5, 0.75]))
    texts = [f"{c:.4g}" for c in cuts]
    names = ([f"<= {texts[0]}"] + [f"{a} to {b}" for a, b in pairwise(texts)]
             + [f"> {texts[-1]}"])
    return np.asarray([names[i] for i in np.searchsorted(cuts, values, side="left")],
                      dtype=object)


def slice_table(kind: str, y: np.ndarray, values: np.ndarray, groups: np.ndarray,
                field: str) -> dict[str, Any]:
    """Rows, the primary metric and its interval per slice (most rows first, ``other``
    last); ``y`` class indices for a classifier, numbers for a regressor."""
    task: Task = "classifier" if kind == "classifier" else "regressor"
    metric = primary_metric(task)
    counts = Counter(groups.tolist())
    top = [value for value, _ in counts.most_common(TOP)]
    if len(counts) > TOP:
        groups = np.where(np.isin(groups, top), groups, OTHER)
        top.append(OTHER)
    slices = []
    for value in top:
        index = np.flatnonzero(groups == value)
        if task == "classifier":
            k = values.shape[1]
            point = classifier_metrics(y[index], values[index], list(range(k)))[metric]
            interval = classifier_intervals(y[index], values[index], k)[metric]
        else:
            point = regressor_metrics(y[index], values[index])[metric]
            interval = regressor_intervals(y[index], values[index])[metric]
        slices.append({"value": value, "rows": len(index), metric: point,
                       "interval": list(interval)})
    return {"field": field, "metric": metric, "slices": slices}
