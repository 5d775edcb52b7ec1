"""Training and export: a scikit-learn class, a user's function, a regressor; what cannot be
imported or converted is one clear error."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from streaminfer.errors import ConfigError, ModelError
from streaminfer.operators.model_runner import OnnxModel
from streaminfer.pipelines.devtools.example_models import Dataset
from streaminfer.pipelines.lifecycle.holdout import holdout_metrics
from streaminfer.pipelines.lifecycle.trainers import train
from streaminfer.pipelines.spec.training_spec import EstimatorSpec

USER_MODULE = '''
from sklearn.linear_model import LogisticRegression


def fit(X, y, C=1.0):
    return LogisticRegression(C=C, max_iter=5000).fit(X, y)


def not_a_model(X, y):
    return "oops"


class Unconvertible:
    def fit(self, X, y):
        return self

    def predict(self, X):
        return X[:, 0]


def unconvertible(X, y):
    return Unconvertible().fit(X, y)
'''


@pytest.fixture
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "user_training.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "user_training"


def test_a_users_function_is_trained_and_exported_like_a_class(
    user_module: str, dataset_factory: Callable[[str], Dataset],
) -> None:
    data = dataset_factory("breast_cancer")
    trained = train(EstimatorSpec(function=f"{user_module}:fit", params={"C": 0.5}),
                    data.X, data.y, seed=0)
    assert trained.classes == (0, 1)
    model = OnnxModel(trained.onnx, name="user")
    assert sorted(model.info.outputs.values()) == ["label", "probabilities"]
    metrics = holdout_metrics(trained.onnx, data.X, data.y, trained.classes, "user")
    assert metrics["accuracy"] > 0.9 and metrics["roc_auc"] > 0.95


def test_a_regressor_is_measured_with_regressor_metrics(
    dataset_factory: Callable[[str], Dataset],
) -> None:
    data = dataset_factory("diabetes")
    spec = EstimatorSpec(class_path="sklearn.linear_model.Ridge", params={"alpha": 0.1})
    trained = train(spec, data.X[:350], data.y[:350], seed=0)
    assert trained.classes is None
    metrics = holdout_metrics(trained.onnx, data.X[350:], data.y[350:], None, "ridge")
    assert set(metrics) == {"mae", "rmse", "r2"} and 0.2 < metrics["r2"] < 1.0


@pytest.mark.parametrize(("spec", "error", "message"), [
    (EstimatorSpec(class_path="sklearn.linear_model.NoSuchModel"), ConfigError,
     "cannot import sklearn.linear_model.NoSuchModel"),
    (EstimatorSpec(class_path="sklearn.linear_model.Ridge", params={"colour": 1}),
     ConfigError, r"retrain.estimator.params: sklearn.linear_model.Ridge: .*colour"),
    (EstimatorSpec(function="user_training:not_a_model"), ConfigError,
     "returned str, not a fitted model"),
    (EstimatorSpec(function="user_training:unconvertible"), ModelError,
     "cannot export Unconvertible to ONNX with skl2onnx"),
])
def test_what_cannot_be_trained_or_exported_says_so(
    user_module: str, spec: EstimatorSpec, error: type[Exception], message: str,
) -> None:
    X, y = np.arange(20, dtype=np.float64).reshape(10, 2), np.array([0, 1] * 5)
    with pytest.raises(error, match=message):
        train(spec, X, y, seed=0)
