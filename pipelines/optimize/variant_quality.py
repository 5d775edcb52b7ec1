"""A model's predictions on labelled rows, their quality (``operators.quality``) and how
well two models' predictions agree."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from streaminfer.errors import ModelError
from streaminfer.operators.quality import classifier_metrics, regressor_metrics


@dataclass(frozen=True)
class Predictions:
    """A classifier's labels and probabilities, or a regressor's values."""

    labels: np.ndarray | None = None
    probabilities: np.ndarray | None = None
    values: np.ndarray | None = None

    @property
    def is_classifier(self) -> bool:
        return self.probabilities is not None


def output_roles(outputs: list[tuple[str, str, list[Any]]]) -> dict[str, str]:
    """Which output (name, type, shape) holds the label, probabilities or value.

    >>> output_roles([("label", "tensor(int64)", ["N"]),
    ...               ("probabilities", "tensor(float)", ["N", 3])])
    {'label': 'label', 'probabilities': 'probabilities'}
    >>> output_roles([("variable", "tensor(float)", ["N", 1])])
    {'value': 'variable'}
    """
    roles: dict[str, str] = {}
    for name, kind, shape in outputs:
        wide = len(shape) == 2 and not (isinstance(shape[1], int) and shape[1] == 1)
        if "float" in kind and (name == "probabilities" or wide) and "probabilities" not in roles:
            roles["probabilities"] = name
        elif "float" not in kind and "label" not in roles:
            roles["label"] = name
    if "probabilities" not in roles:
        floats = [name for name, kind, _ in outputs if "float" in kind]
        if not floats:
            raise ModelError("the model has no float output to evaluate")
        return {"value": floats[0]}
    return roles


def predict(session: Any, feed: dict[str, np.ndarray]) -> Predictions:
    """Run ``session`` on ``feed`` (every input by name; in slices of 1024 rows) and sort
    its outputs by role."""
    outputs = session.get_outputs()
    roles = output_roles([(o.name, o.type, list(o.shape)) for o in outputs])
    names = list(roles.values())
    count = len(next(iter(feed.values())))
    parts = [session.run(names, {name: rows[i : i + 1024] for name, rows in feed.items()})
             for i in range(0, count, 1024)]
    merged = {role: np.concatenate([part[k] for part in parts])
              for k, role in enumerate(roles)}
    if "value" in merged:
        return Predictions(values=merged["value"].reshape(count).astype(np.float64))
    probabilities = merged["probabilities"].astype(np.float64)
    return Predictions(labels=merged.get("label"), probabilities=probabilities)


def classes_of(reference: Predictions, y: np.ndarray) -> list[Any]:
    """The class of each probability column: the sorted labels seen (in ``y`` and predicted)
    when they are as many as the columns, else 0..k-1."""
    assert reference.probabilities is not None
    width = reference.probabilities.shape[1]
    seen = np.unique(np.concatenate([np.asarray(y), reference.labels])
                     if reference.labels is not None else np.asarray(y))
    return seen.tolist() if len(seen) == width else list(range(width))


def quality(predictions: Predictions, y: np.ndarray, classes: list[Any] | None) -> dict[str, float]:
    """scikit-learn's metrics (``operators.quality``) of these predictions against ``y``."""
    if predictions.is_classifier:
        assert predictions.probabilities is not None and classes is not None
        with warnings.catch_warnings():  # int8/fp16 probabilities sum to 1 only roughly
            warnings.simplefilter("ignore", UserWarning)
            return classifier_metrics(y, predictions.probabilities, classes)
    assert predictions.values is not None
    return regressor_metrics(y, predictions.values)


def agreement(original: Predictions, variant: Predictions, classes: list[Any] | None) -> float:
    """Share of rows whose predicted class is the original's (classifiers), or whose value is
    within 1% of the original's spread (regressors)."""
    if original.is_classifier:
        assert original.probabilities is not None and variant.probabilities is not None
        return float(np.mean(np.argmax(original.probabilities, axis=1)
                             == np.argmax(variant.probabilities, axis=1)))
    assert original.values is not None and variant.values is not None
    spread = float(np.std(original.values)) or 1.0
    return float(np.mean(np.abs(original.values - variant.values) <= 0.01 * spread))
