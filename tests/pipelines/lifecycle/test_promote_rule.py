"""The automatic promotion rule: a better shadow over enough examples, lower-is-better
metrics, nothing without both versions' numbers."""

from __future__ import annotations

import pytest

from streaminfer.operators.metric_table import Metric
from streaminfer.pipelines.lifecycle.promote_rule import promote_verdict
from streaminfer.pipelines.spec.rollout_spec import PromoteRuleSpec
from tests.fixtures.metrics import EVERY_METRIC, better_worse

RULE = PromoteRuleSpec(metric="accuracy", min_gain=0.05, min_examples=100)


def live(champion: float, shadow: float, examples: int = 200, metric: str = "accuracy",
         ) -> dict[tuple[str, str], dict[str, float]]:
    return {("bc", "1"): {metric: champion, "examples": 500},
            ("bc", "2"): {metric: shadow, "examples": examples}}


def test_a_shadow_better_by_the_gain_is_promoted_with_both_numbers() -> None:
    verdict = promote_verdict(RULE, "bc", "1", "2", live(0.80, 0.90))
    assert verdict is not None and (verdict.value, verdict.baseline) == (0.90, 0.80)
    assert "shadow version 2 is 0.9000 over 200" in verdict.message
    assert promote_verdict(RULE, "bc", "1", "2", live(0.80, 0.84)) is None


def test_too_few_examples_or_missing_numbers_promote_nothing() -> None:
    assert promote_verdict(RULE, "bc", "1", "2", live(0.5, 0.99, examples=99)) is None
    assert promote_verdict(RULE, "bc", "1", "3", live(0.5, 0.99)) is None
    nan = {("bc", "1"): {"accuracy": float("nan"), "examples": 500},
           ("bc", "2"): {"accuracy": 0.9, "examples": 500}}
    assert promote_verdict(RULE, "bc", "1", "2", nan) is None


def test_lower_is_better_metrics_must_fall_by_the_gain() -> None:
    rule = PromoteRuleSpec(metric="log_loss", min_gain=0.1, min_examples=100)
    assert promote_verdict(rule, "bc", "1", "2", live(0.5, 0.3, metric="log_loss")) is not None
    assert promote_verdict(rule, "bc", "1", "2", live(0.5, 0.45, metric="log_loss")) is None
    assert promote_verdict(rule, "bc", "1", "2", live(0.3, 0.5, metric="log_loss")) is None


def test_a_zero_gain_promotes_an_equal_shadow() -> None:
    rule = PromoteRuleSpec(min_gain=0, min_examples=1)
    assert promote_verdict(rule, "bc", "1", "2", live(0.9, 0.9)) is not None


@pytest.mark.parametrize("metric", EVERY_METRIC)
def test_every_metric_promotes_only_a_shadow_better_by_the_gain(metric: Metric) -> None:
    rule = PromoteRuleSpec(metric=metric.name, min_gain=0.1, min_examples=100)
    better, worse = better_worse(metric, step=0.2)
    verdict = promote_verdict(rule, "bc", "1", "2", live(worse, better, metric=metric.name))
    assert verdict is not None and "0.2000 better" in verdict.message
    assert promote_verdict(rule, "bc", "1", "2", live(better, worse, metric=metric.name)) is None
    slightly_better, slightly_worse = better_worse(metric, step=0.05)  # asked: 0.1
    assert promote_verdict(rule, "bc", "1", "2",
                           live(slightly_worse, slightly_better, metric=metric.name)) is None
