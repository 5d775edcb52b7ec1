"""Metric fields of the YAML: a name the metric table lacks is refused when the file loads,
with a guess, the field and the allowed metrics; metrics that judge one model must be of
one task."""

from __future__ import annotations

from pathlib import Path

import pytest

from streaminfer.errors import ConfigError
from streaminfer.operators.metric_table import METRICS
from streaminfer.pipelines.spec.loader import parse_spec
from streaminfer.pipelines.spec.schema import PipelineSpec

BASE = """\
name: p
source: {topics: [events], group_id: g, features: [a, b]}
model: {path: "models:/bc@champion"}
sink: {predictions_topic: preds, dead_letter_topic: dlq}
"""
RETRAIN = ("retrain: {estimator: {class_path: sklearn.linear_model.LogisticRegression}, "
           "source: {topic: training}, ")
ALLOWED = ", ".join(METRICS)


def _problem(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_spec(text, source="pipe.yaml", base=Path("/base"))
    return str(info.value)


@pytest.mark.parametrize(("section", "field"), [
    ("rollout: {rollback: {metric: %s}}", "rollout.rollback.metric"),
    ("rollout: {promote: {metric: %s}}", "rollout.promote.metric"),
    (RETRAIN + "when: {metric_floor: {metric: %s, below: 0.1}}}",
     "retrain.when.metric_floor.metric"),
    (RETRAIN + "gate: [{metric: %s, max_increase: 0.01}]}", "retrain.gate.0.metric"),
])
def test_a_typoed_metric_names_the_field_a_guess_and_the_metrics(section: str,
                                                                 field: str) -> None:
    message = _problem(BASE + section % "calibraton_error" + "\n")
    assert message.splitlines() == [
        "pipe.yaml: 1 problem(s) in the pipeline config",
        f"  {field}: unknown metric (did you mean 'calibration_error'?). Allowed here: "
        f"{ALLOWED} (got 'calibraton_error')",
    ]
    assert parse_spec(BASE + section % "calibration_error" + "\n") is not None


def test_a_metric_nothing_computes_is_refused() -> None:
    message = _problem(BASE + "rollout: {rollback: {metric: brier}}\n")
    assert "rollout.rollback.metric: unknown metric" in message
    assert "did you mean" not in message and "(got 'brier')" in message


@pytest.mark.parametrize(("sections", "words"), [
    (RETRAIN + "gate: [{metric: rmse, max_increase: 0.1}], "
     "when: {metric_floor: {metric: accuracy, below: 0.8}}}",
     "retrain.when.metric_floor.metric is 'accuracy', a classifier metric, but "
     "retrain.gate.0.metric ('rmse') says the model is a regressor"),
    ("rollout: {rollback: {metric: accuracy}}\n" + RETRAIN
     + "gate: [{metric: mae, max_increase: 0.1}]}",
     "retrain.gate.0.metric is 'mae', a regressor metric, but rollout.rollback.metric "
     "('accuracy') says the model is a classifier"),
    ("feedback: {labels_topic: labels, training_topic: training, live: {classes: [0, 1]}}\n"
     "rollout: {promote: {metric: r2}}",
     "rollout.promote.metric is 'r2', a regressor metric, but feedback.live.classes says "
     "the model is a classifier"),
])
def test_metrics_that_judge_one_model_are_of_one_task(sections: str, words: str) -> None:
    message = _problem(BASE + sections + "\n")
    assert words in message
    assert "use classifier metrics (accuracy, " in message or \
        "use regressor metrics (rmse, " in message


def test_several_models_may_have_rollout_metrics_of_any_task() -> None:
    text = BASE.replace('model: {path: "models:/bc@champion"}\n',
                        'models: [{path: "models:/bc@champion"}, {path: "models:/hp@champion"}]\n'
                        "routing: {weights: {bc: 0.5, hp: 0.5}}\n")
    spec = parse_spec(text + "rollout: {rollback: {metric: rmse}}\n" + RETRAIN
                      + "gate: [{metric: accuracy, max_drop: 0.1}]}\n")
    assert spec.rollout.rollback is not None and spec.rollout.rollback.metric == "rmse"


def test_the_schema_lists_the_metrics_of_the_table() -> None:
    defs = PipelineSpec.model_json_schema()["$defs"]
    for section, field in (("RollbackRuleSpec", "metric"), ("PromoteRuleSpec", "metric"),
                           ("MetricFloorSpec", "metric"), ("GateRuleSpec", "metric")):
        assert defs[section]["properties"][field]["enum"] == list(METRICS)
