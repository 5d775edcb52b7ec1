"""Which profile the runtime uses: the one beside the model that profiles that file and its
features; any other case turns drift off for that model with one log line saying why."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from streaminfer.operators.model_runner import OnnxModel
from streaminfer.operators.profile import Profile, build_profile, profile_path
from streaminfer.pipelines.devtools.example_models import Dataset
from streaminfer.pipelines.online.drift_monitor import load_profile
from streaminfer.pipelines.spec.schema import ModelSpec


@pytest.fixture
def model_copy(tmp_path: Path, model_factory: Callable[[str], Path]) -> Path:
    """A copy of the breast-cancer model and its profile in a folder of the test's own."""
    source = model_factory("breast_cancer")
    target = tmp_path / source.name
    shutil.copyfile(source, target)
    shutil.copyfile(profile_path(source), profile_path(target))
    return target


def _load(path: Path, features: tuple[str, ...] | None, caplog: pytest.LogCaptureFixture,
          ) -> Profile | None:
    info = OnnxModel.load(path, name="bc").info
    with caplog.at_level(logging.INFO, logger="streaminfer.pipelines.online.drift_monitor"):
        return load_profile(ModelSpec(path=path, name="bc"), info, features)


def test_the_profile_beside_the_model_is_used(
    model_copy: Path, dataset_factory: Callable[[str], Dataset],
    caplog: pytest.LogCaptureFixture,
) -> None:
    features = tuple(dataset_factory("breast_cancer").features)
    profile = _load(model_copy, features, caplog)
    assert profile is not None and profile.feature_names == features
    assert caplog.records == []


@pytest.mark.parametrize("case", ["missing", "garbage", "other_model", "other_features"])
def test_a_profile_that_does_not_fit_turns_drift_off_with_one_line(
    case: str, model_copy: Path, dataset_factory: Callable[[str], Dataset],
    caplog: pytest.LogCaptureFixture,
) -> None:
    features = tuple(dataset_factory("breast_cancer").features)
    where = profile_path(model_copy)
    if case == "missing":
        where.unlink()
    elif case == "garbage":
        where.write_text("not json")
    elif case == "other_model":
        X = np.zeros((10, len(features)))
        build_profile(features, X, {}, model_sha256="0" * 64).write(where)
    else:
        features = tuple(reversed(features))
    assert _load(model_copy, features, caplog) is None
    (record,) = caplog.records
    assert record.getMessage().startswith("drift off for model bc")


def test_a_model_fed_by_inputs_uses_its_input_profile_and_refuses_a_feature_profile(
    tmp_path: Path, model_factory: Callable[[str], Path], caplog: pytest.LogCaptureFixture,
) -> None:
    from dataclasses import replace

    source = model_factory("fraud_mixed")
    path = tmp_path / source.name
    shutil.copyfile(source, path)
    shutil.copyfile(profile_path(source), profile_path(path))
    inputs = {n: n for n in ("country", "category", "channel", "amount", "hour",
                             "card_age_days")}
    spec = ModelSpec.model_validate({"path": str(path), "name": "mixed", "inputs": inputs,
                                     "outputs": {"label": "is_fraud",
                                                 "probabilities": "p"}})
    info = OnnxModel.load(path, name="mixed", inputs=spec.input_bindings(),
                          outputs=spec.outputs).info
    with caplog.at_level(logging.INFO, logger="streaminfer.pipelines.online.drift_monitor"):
        profile = load_profile(spec, info, None)
    assert profile is not None and "country" in profile.feature_names
    assert profile.prediction is not None and profile.prediction.output == "p"
    assert caplog.records == []
    as_features = replace(Profile.read(profile_path(path)), extra={})
    as_features.write(profile_path(path))
    with caplog.at_level(logging.INFO, logger="streaminfer.pipelines.online.drift_monitor"):
        assert load_profile(spec, info, None) is None
    assert "profiles feature columns; this model is fed by model.inputs" in caplog.text
