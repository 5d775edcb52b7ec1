"""Score a model on the holdout and measure it with the shared quality metrics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from streaminfer.errors import ModelError
from streaminfer.operators.inputs import Feed, InputBinding
from streaminfer.operators.model_runner import OnnxModel
from streaminfer.operators.output_roles import ONNX_OUTPUTS
from streaminfer.operators.quality import classifier_metrics, regressor_metrics


def holdout_metrics(
    data: bytes, X: Feed, y: np.ndarray, classes: Sequence[Any] | None, name: str,
    inputs: Mapping[str, InputBinding] | None = None,
) -> dict[str, float]:
    """Classifier metrics (from ``probabilities``, columns in ``classes`` order) or regressor
    metrics (from ``variable``, else the only output) of an ONNX model on ``X``, ``y``: the
    model's own output names (a candidate file, before any ``model.outputs``). ``X`` is a
    feature matrix, or with ``inputs`` (``model.inputs``) the feed of every input."""
    model = OnnxModel(data, name=name, providers=("CPUExecutionProvider",),
                      inputs=None if inputs is None else dict(inputs))
    results = model.run(X if isinstance(X, dict) else X.astype(model.info.input_dtype))
    outputs = dict(zip(model.info.outputs.values(), results, strict=True))
    if classes is not None:
        proba = outputs.get(ONNX_OUTPUTS["probabilities"])
        if proba is None or np.asarray(proba).shape != (len(y), len(classes)):
            raise ModelError(f"{name}: no 'probabilities' output of shape [batch, "
                             f"{len(classes)}] for classes {list(classes)}; it has "
                             f"{', '.join(outputs)}")
        proba = np.asarray(proba, dtype=np.float64)  # float32 rows sum to 1 only roughly
        return classifier_metrics(y, proba / proba.sum(axis=1, keepdims=True), classes)
    value = outputs.get(ONNX_OUTPUTS["value"], next(iter(outputs.values())))
    return regressor_metrics(y, np.asarray(value))
