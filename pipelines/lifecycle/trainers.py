"""Fit what the ``retrain.estimator`` section names and export it to ONNX.

A scikit-learn class path with parameters out of the box; a user's ``module:function`` that
returns a fitted scikit-learn-compatible model as the extension point. Classifiers are
exported with ``zipmap=False``, so their outputs are ``label`` and ``probabilities`` like every
classifier streaminfer serves; regressors give ``variable``. A model fed by ``model.inputs``
is fitted on a pandas DataFrame (one column per input) and exported with the inputs of the
model it replaces (:func:`export_typed`), so the same mapping feeds it.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from streaminfer.errors import ConfigError, DataError, ModelError
from streaminfer.operators.inputs import InputSignature
from streaminfer.pipelines.spec.training_spec import EstimatorSpec

OPSET = {"": 17, "ai.onnx.ml": 3}


@dataclass(frozen=True)
class TrainedModel:
    """An ONNX model and, for a classifier, its classes in the order of its probabilities."""

    onnx: bytes
    classes: tuple[Any, ...] | None


def _import(path: str, separator: str) -> Any:
    module_name, _, attr = path.rpartition(separator)
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"retrain.estimator: cannot import {path}: {exc}") from None


def build_estimator(spec: EstimatorSpec, seed: int) -> Any:
    """An unfitted estimator from ``class_path`` and ``params`` (scaled if asked for)."""
    assert spec.class_path is not None
    cls = _import(spec.class_path, ".")
    params = dict(spec.params)
    if "random_state" in inspect.signature(cls).parameters:
        params.setdefault("random_state", seed)
    try:
        estimator = cls(**params)
    except TypeError as exc:
        raise ConfigError(f"retrain.estimator.params: {spec.class_path}: {exc}") from None
    if spec.standardize:
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(StandardScaler(), estimator)
    return estimator


def is_classifier(model: Any) -> bool:
    """scikit-learn's answer; for a model outside its class tree, whether it has classes."""
    from sklearn.base import is_classifier as check

    try:
        return bool(check(model))
    except AttributeError:  # no __sklearn_tags__: not a BaseEstimator
        return hasattr(model, "classes_") and hasattr(model, "predict_proba")


def check_labels(y: np.ndarray, classifier: bool, where: str) -> None:
    """A classifier needs two classes or more to learn from."""
    if classifier and len(np.unique(y)) < 2:
        only = np.asarray(y)[0].item()
        raise DataError(f"{where}: only one class ({only!r}) among {len(y)} training "
                        "examples; wait for labels of the other class(es)")


def fit(spec: EstimatorSpec, X: Any, y: np.ndarray, seed: int) -> Any:
    """The fitted model (a class built from the spec, or what the user's function returns)."""
    if spec.function is not None:
        model = _import(spec.function, ":")(X, y, **spec.params)
        if not hasattr(model, "predict"):
            raise ConfigError(f"retrain.estimator.function {spec.function} returned "
                              f"{type(model).__name__}, not a fitted model with predict()")
        return model
    estimator = build_estimator(spec, seed)
    check_labels(y, is_classifier(estimator), "retrain")
    return estimator.fit(X, y)


def export_onnx(model: Any, X: np.ndarray) -> bytes:
    """The model as ONNX (float32 input ``[batch, features]``), via skl2onnx."""
    from skl2onnx import to_onnx

    options = {id(model): {"zipmap": False}} if is_classifier(model) else None
    try:
        onx = to_onnx(model, X[:1].astype(np.float32), options=options, target_opset=OPSET)
    except Exception as exc:  # skl2onnx raises many types for models it cannot convert
        raise ModelError(f"cannot export {type(model).__name__} to ONNX with skl2onnx: "
                         f"{exc}") from None
    return bytes(onx.SerializeToString())


def export_typed(model: Any, signature: Sequence[InputSignature]) -> bytes:
    """The model as ONNX with one input per entry of ``signature`` (name, element type and
    shape kept): what a model fed by ``model.inputs`` takes."""
    from skl2onnx import to_onnx
    from skl2onnx.common import data_types as types

    tensor = {"string": types.StringTensorType, "float": types.FloatTensorType,
              "double": types.DoubleTensorType, "int64": types.Int64TensorType,
              "int32": types.Int32TensorType, "bool": types.BooleanTensorType}
    initial = []
    for sig in signature:
        if sig.element_type not in tensor:
            raise ModelError(f"retrain: input {sig.name} is {sig.element_type}; skl2onnx "
                             f"exports inputs of {', '.join(tensor)}")
        initial.append((sig.name, tensor[sig.element_type](
            [d if isinstance(d, int) else None for d in sig.shape])))
    options = {id(model): {"zipmap": False}} if is_classifier(model) else None
    try:
        onx = to_onnx(model, initial_types=initial, options=options, target_opset=OPSET)
    except Exception as exc:  # skl2onnx raises many types for models it cannot convert
        raise ModelError(f"cannot export {type(model).__name__} to ONNX with skl2onnx with "
                         f"inputs {', '.join(s.name for s in signature)}: {exc}") from None
    return bytes(onx.SerializeToString())


def train(spec: EstimatorSpec, X: Any, y: np.ndarray, seed: int,
          signature: Sequence[InputSignature] | None = None) -> TrainedModel:
    """Fit and export; run as a Ray task on a cluster, or in-process. ``signature``: the
    inputs of a model fed by ``model.inputs`` (``X`` a DataFrame, a column per input)."""
    model = fit(spec, X, y, seed)
    classifier = is_classifier(model)
    if classifier:
        check_labels(y, True, "retrain")
    classes = tuple(np.asarray(model.classes_).tolist()) if classifier else None
    onnx = export_onnx(model, X) if signature is None else export_typed(model, signature)
    return TrainedModel(onnx, classes)
