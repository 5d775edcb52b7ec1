"""The gate's rules, one by one: relative to the champion, absolute, undefined metrics."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from streaminfer.operators.metric_table import Metric
from streaminfer.pipelines.lifecycle.gate import evaluate_gate
from streaminfer.pipelines.spec.training_spec import GateRuleSpec
from tests.fixtures.metrics import EVERY_METRIC, better_worse

AUC = GateRuleSpec(metric="roc_auc", max_drop=0.005)
LOSS = GateRuleSpec(metric="log_loss", max_increase=0)
ACC = GateRuleSpec(metric="accuracy", min=0.9)


def test_a_candidate_within_every_rule_passes() -> None:
    result = evaluate_gate({"roc_auc": 0.996, "log_loss": 0.10, "accuracy": 0.95},
                           {"roc_auc": 0.999, "log_loss": 0.10}, [AUC, LOSS, ACC])
    assert result.passed and result.reasons == ()


def test_each_failed_rule_is_a_reason_with_the_numbers() -> None:
    result = evaluate_gate({"roc_auc": 0.90, "log_loss": 0.30, "accuracy": 0.80},
                           {"roc_auc": 0.99, "log_loss": 0.10}, [AUC, LOSS, ACC])
    assert not result.passed
    assert result.reasons == (
        "roc_auc 0.9000 is below the champion's 0.9900 by 0.0900 (max_drop 0.005)",
        "log_loss 0.3000 is above the champion's 0.1000 by 0.2000 (max_increase 0)",
        "accuracy 0.8000 is below the minimum 0.9",
    )


def test_a_drop_just_inside_the_allowance_passes_and_just_outside_fails() -> None:
    assert evaluate_gate({"roc_auc": 0.9951}, {"roc_auc": 1.0}, [AUC]).passed
    assert not evaluate_gate({"roc_auc": 0.9949}, {"roc_auc": 1.0}, [AUC]).passed


def test_without_a_champion_only_absolute_rules_apply() -> None:
    assert evaluate_gate({"roc_auc": 0.5, "log_loss": 9.0, "accuracy": 0.95}, None,
                         [AUC, LOSS, ACC]).passed
    assert not evaluate_gate({"accuracy": 0.5}, None, [ACC]).passed


def test_undefined_or_missing_metrics_fail_their_rule() -> None:
    result = evaluate_gate({"roc_auc": math.nan}, {"roc_auc": 0.9}, [AUC, LOSS])
    assert result.reasons == ("roc_auc is not defined on the holdout for the candidate",
                              "log_loss is not defined on the holdout for the candidate")
    champion_nan = evaluate_gate({"roc_auc": 0.9}, {"roc_auc": math.nan}, [AUC])
    assert champion_nan.reason == "roc_auc is not defined on the holdout for the champion"


def test_no_rules_pass() -> None:
    assert evaluate_gate({"accuracy": 0.1}, {"accuracy": 0.9}, []).passed


@pytest.mark.parametrize(("rule", "message"), [
    ({"metric": "auc", "max_drop": 0.1}, r"unknown metric \(did you mean 'roc_auc'\?\)"),
    ({"metric": "log_loss", "max_drop": 0.1}, "lower is better"),
    ({"metric": "accuracy", "max_increase": 0.1}, "higher is better"),
    ({"metric": "accuracy", "min": 0.9, "max": 1.0}, "exactly one of"),
    ({"metric": "accuracy"}, "exactly one of"),
])
def test_rules_that_make_no_sense_are_refused(rule: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        GateRuleSpec.model_validate(rule)


@pytest.mark.parametrize("metric", EVERY_METRIC)
def test_every_metric_fails_only_a_candidate_worse_than_allowed(metric: Metric) -> None:
    bound = "max_drop" if metric.higher_is_better else "max_increase"
    rule = GateRuleSpec.model_validate({"metric": metric.name, bound: 0.1})
    better, worse = better_worse(metric, step=0.2)
    result = evaluate_gate({metric.name: worse}, {metric.name: better}, [rule])
    side = "below" if metric.higher_is_better else "above"
    assert result.reasons == (f"{metric.name} {worse:.4f} is {side} the champion's "
                              f"{better:.4f} by 0.2000 ({bound} 0.1)",)
    assert evaluate_gate({metric.name: better}, {metric.name: worse}, [rule]).passed
    slightly_better, slightly_worse = better_worse(metric, step=0.05)
    assert evaluate_gate({metric.name: slightly_worse}, {metric.name: slightly_better},
                         [rule]).passed
    wrong = "max_increase" if metric.higher_is_better else "max_drop"
    with pytest.raises(ValidationError, match=f"{metric.better} is better"):
        GateRuleSpec.model_validate({"metric": metric.name, wrong: 0.1})
