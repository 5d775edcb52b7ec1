"""Retraining a model fed by ``model.inputs`` (strings beside numbers) from a file of
labelled examples: the candidate takes the same inputs, and its holdout metrics are
scikit-learn's on the same rows, computed here."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from sklearn import metrics as skm

from streaminfer.errors import ConfigError, DataError
from streaminfer.operators.model_runner import OnnxModel
from streaminfer.operators.profile import Profile, profile_path
from streaminfer.pipelines.devtools.example_models import (
    FRAUD_CATEGORICALS,
    FRAUD_NUMBERS,
    fraud_mixed_pipeline,
    fraud_mixed_transactions,
)
from streaminfer.pipelines.lifecycle.registry import Registry
from streaminfer.pipelines.lifecycle.retrain import retrain
from streaminfer.pipelines.spec.schema import PipelineSpec

from .conftest import T0_MS

ROWS = 500
CLASSES = ["legit", "fraud"]
INPUTS = {"country": "country", "category": "category", "channel": "channel",
          "amount": "amount", "hour": "hour", "card_age_days": "card_age_days"}


def examples_file(folder: Path, named: bool) -> tuple[Path, pd.DataFrame, np.ndarray]:
    """Labelled examples (the joiner's shape) of fresh transactions, one second apart, and
    the same rows as a frame with their labels (0/1)."""
    data = fraud_mixed_transactions(ROWS, seed=23)
    lines = []
    for i, (row, label) in enumerate(zip(data.X.tolist(), data.y.tolist(), strict=True)):
        lines.append(orjson.dumps({
            "id": f"t{i}", "features": dict(zip(data.features, row, strict=True)),
            "label": CLASSES[label] if named else label, "model_version": "1",
            "predicted_at": T0_MS + 1_000 * i, "labelled_at": T0_MS + 1_000 * i + 500}))
    if named:  # the newest example has a number for a string input: refused, as online
        bad = orjson.loads(lines[0])
        bad["features"]["country"], bad["predicted_at"] = 7, T0_MS + 1_000 * ROWS
        bad["labelled_at"] = bad["predicted_at"] + 500
        lines.append(orjson.dumps(bad))
    path = folder / "examples.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    frame = pd.DataFrame({name: data.X[:, i] for i, name in enumerate(data.features)})
    for name in FRAUD_NUMBERS:
        frame[name] = frame[name].astype(np.float32)
    return path, frame, data.y


def typed_spec(model: Path, examples: Path, registry: Registry,
               **model_options: Any) -> PipelineSpec:
    return PipelineSpec.model_validate({
        "name": "fraud-mixed-retrain",
        "kafka": {"bootstrap_servers": "localhost:9092"},
        "source": {"topics": ["transactions-mixed"], "group_id": "g", "id_field": "txn_id"},
        "model": {"path": str(model), "name": "fraud-mixed", "inputs": INPUTS,
                  "outputs": {"label": "is_fraud", "probabilities": "probabilities"},
                  "postprocess": {"classes": CLASSES, "threshold": 0.3}, **model_options},
        "sink": {"predictions_topic": "scores", "dead_letter_topic": "dead"},
        "registry": {"tracking_uri": registry.uri, "cache_dir": str(registry.cache_dir)},
        "retrain": {
            "estimator": {"function":
                          "streaminfer.pipelines.devtools.example_models:fit_fraud_mixed",
                          "params": {"C": 0.5}},
            "source": {"files": [str(examples)]}, "min_examples": 100,
            "gate": [{"metric": "roc_auc", "min": 0.5}]},
    })


@pytest.mark.parametrize("named", [False, True], ids=["labels-0-1", "labels-class-names"])
def test_a_mixed_model_is_retrained_with_the_same_inputs_and_sklearns_holdout_metrics(
    named: bool, tmp_path: Path, registry: Registry, model_factory: Callable[[str], Path],
) -> None:
    model_file = model_factory("fraud_mixed")
    examples, frame, y = examples_file(tmp_path, named)
    spec = typed_spec(model_file, examples, registry)

    result = retrain(spec, registry=registry)

    held = ROWS // 5  # holdout_share 0.2: the newest rows (and the refused one, if any)
    assert (result.train_count, result.holdout_count, result.skipped, result.refused) == (
        ROWS - held, held, 0, int(named))
    assert result.gate.passed, result.gate.reasons
    candidate = OnnxModel(registry.fetch(result.version).read_bytes(), name="candidate",
                          inputs=spec.model_specs[0].input_bindings())
    original = OnnxModel(model_file.read_bytes(), name="original",
                         inputs=spec.model_specs[0].input_bindings())
    assert candidate.info.inputs == original.info.inputs
    assert {s.name: s.element_type for s in candidate.info.inputs} == {
        **dict.fromkeys(FRAUD_CATEGORICALS, "string"), **dict.fromkeys(FRAUD_NUMBERS, "float")}

    # The same pipeline fitted here on the same older rows, measured on the newest ones.
    pipe = fraud_mixed_pipeline(C=0.5).fit(frame.iloc[:ROWS - held], y[:ROWS - held])
    proba = pipe.predict_proba(frame.iloc[ROWS - held:])
    truth = y[ROWS - held:]
    expected = {"roc_auc": skm.roc_auc_score(truth, proba[:, 1]),
                "log_loss": skm.log_loss(truth, proba, labels=[0, 1]),
                "accuracy": skm.accuracy_score(truth, proba.argmax(axis=1))}
    for metric, value in expected.items():
        assert result.metrics[metric] == pytest.approx(value, abs=1e-4), metric
    # Its drift profile bins each input, beside the model where drift looks for it.
    profile = Profile.read(profile_path(registry.fetch(result.version)))
    assert {b.name: b.kind for b in profile.features} == {
        **dict.fromkeys(FRAUD_CATEGORICALS, "categorical"),
        **dict.fromkeys(FRAUD_NUMBERS, "numeric")}
    assert profile.rows == ROWS - held and profile.extra["feed"] == "inputs"
    # The candidate scores a raw event through the pipeline's own mapping.
    event = {"country": "NG", "category": "gaming", "channel": "online", "amount": 900.0,
             "hour": 3, "card_age_days": 2}
    builder = candidate.info.feed_builder()
    assert builder is not None
    feed, refused = builder.matrix([builder.values(event)])
    assert refused == {} and candidate.predict_rows(feed)[0]["label"] == 1


def test_an_unknown_class_name_and_a_token_model_are_refused_clearly(
    tmp_path: Path, registry: Registry, model_factory: Callable[[str], Path],
) -> None:
    model_file = model_factory("fraud_mixed")
    examples, _, _ = examples_file(tmp_path, named=True)
    text = examples.read_text().replace('"label":"fraud"', '"label":"froud"', 1)
    examples.write_text(text)
    with pytest.raises(DataError, match="'froud' are not among the model's classes"):
        retrain(typed_spec(model_file, examples, registry), registry=registry)
    spec = typed_spec(model_file, examples, registry,
                      inputs={**INPUTS, "amount": {"fields": ["amount"]}})
    with pytest.raises(ConfigError, match=r"model\.inputs\.amount reads several values"):
        retrain(spec, registry=registry)


def test_the_text_classifier_is_fitted_on_its_text_column_and_exported_with_a_string_input(
) -> None:
    from streaminfer.operators.inputs import InputBinding, InputSignature
    from streaminfer.pipelines.devtools.example_text import support_messages, text_pipeline
    from streaminfer.pipelines.lifecycle.trainers import train
    from streaminfer.pipelines.spec.training_spec import EstimatorSpec

    X, y = support_messages()
    frame = pd.DataFrame({"text": X[:300, 0]})
    spec = EstimatorSpec(
        function="streaminfer.pipelines.devtools.example_text:fit_text_classifier")
    trained = train(spec, frame, y[:300], seed=0, signature=[
        InputSignature("text", "string", (None, 1))])
    model = OnnxModel(trained.onnx, name="text", inputs={"text": InputBinding(field="message")})
    expected = text_pipeline().fit(X[:300, 0], y[:300]).predict_proba(X[300:, 0])
    (proba,) = [v for k, v in zip(model.info.outputs, model.run({"text": X[300:]}),
                                                      strict=True)
                if k == "probabilities"]
    assert trained.classes == (0, 1, 2, 3)
    np.testing.assert_allclose(proba, expected, atol=1e-4)
