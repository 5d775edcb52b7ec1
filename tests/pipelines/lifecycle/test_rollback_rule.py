"""The automatic rollback rule, pure: a champion worse than the previous one by more than
the rule allows is rolled back, whichever way its metric is better."""

from __future__ import annotations

import pytest

from streaminfer.operators.metric_table import Metric
from streaminfer.pipelines.lifecycle.rollback_rule import rollback_verdict
from streaminfer.pipelines.spec.rollout_spec import RollbackRuleSpec
from tests.fixtures.metrics import EVERY_METRIC, better_worse


def live(metric: str, champion: float, previous: float,
         ) -> dict[tuple[str, str], dict[str, float]]:
    return {("bc", "2"): {metric: champion, "examples": 500},
            ("bc", "1"): {metric: previous, "examples": 500}}


def test_a_champion_whose_calibration_improved_is_kept() -> None:
    rule = RollbackRuleSpec(metric="calibration_error", max_drop=0.01, min_examples=100)
    assert rollback_verdict(rule, "bc", "2", "1", live("calibration_error", 0.02, 0.10)) is None
    verdict = rollback_verdict(rule, "bc", "2", "1", live("calibration_error", 0.10, 0.02))
    assert verdict is not None and "0.0800 worse" in verdict.message


@pytest.mark.parametrize("metric", EVERY_METRIC)
def test_every_metric_rolls_back_only_a_worse_champion(metric: Metric) -> None:
    rule = RollbackRuleSpec(metric=metric.name, max_drop=0.1, min_examples=100)
    better, worse = better_worse(metric, step=0.2)
    verdict = rollback_verdict(rule, "bc", "2", "1", live(metric.name, worse, better))
    assert verdict is not None and "0.2000 worse" in verdict.message
    assert rollback_verdict(rule, "bc", "2", "1", live(metric.name, better, worse)) is None
    slightly_better, slightly_worse = better_worse(metric, step=0.05)  # allowed: 0.1
    assert rollback_verdict(rule, "bc", "2", "1",
                            live(metric.name, slightly_worse, slightly_better)) is None
