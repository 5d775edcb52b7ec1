"""The retrain.when rule: off by default, each trigger, the cooldown, lower-is-better."""

from __future__ import annotations

import pytest

from streaminfer.operators.metric_table import Metric
from streaminfer.pipelines.lifecycle.retrain_policy import (
    PolicyState,
    new_examples,
    retrain_reason,
    retrain_trigger,
    trained_until,
)
from streaminfer.pipelines.spec.retrain_policy_spec import MetricFloorSpec, RetrainPolicySpec
from tests.fixtures.metrics import EVERY_METRIC, better_worse

BUSY = PolicyState(new_examples=10_000, drift_alerts=3,
                   live={"accuracy": 0.5, "log_loss": 2.0, "examples": 500})


def test_off_by_default_whatever_happens() -> None:
    assert retrain_reason(RetrainPolicySpec(), BUSY) is None


def test_each_trigger_fires_with_its_reason() -> None:
    drift = RetrainPolicySpec(enabled=True, on_drift_alert=True)
    assert retrain_reason(drift, BUSY) == "3 drift alert(s) (retrain.when.on_drift_alert)"
    assert retrain_reason(drift, PolicyState()) is None
    floor = RetrainPolicySpec(enabled=True, metric_floor=MetricFloorSpec(below=0.8))
    assert retrain_reason(floor, BUSY) == \
        "live accuracy 0.5000 is below 0.8 (retrain.when.metric_floor)"
    few = PolicyState(live={"accuracy": 0.5, "examples": 50})
    assert retrain_reason(floor, few) is None
    loss = RetrainPolicySpec(enabled=True, metric_floor=MetricFloorSpec(metric="log_loss",
                                                                        below=0.5))
    assert retrain_reason(loss, BUSY) == \
        "live log_loss 2.0000 is above 0.5 (retrain.when.metric_floor)"
    every = RetrainPolicySpec(enabled=True, every_examples=20_000)
    assert retrain_reason(every, BUSY) is None


def test_the_cooldown_holds_every_trigger() -> None:
    policy = RetrainPolicySpec(enabled=True, on_drift_alert=True, cooldown_s=600)
    assert retrain_reason(policy, PolicyState(drift_alerts=1, since_last_s=599)) is None
    assert retrain_reason(policy, PolicyState(drift_alerts=1, since_last_s=601)) is not None



def test_a_trigger_carries_its_numbers_for_the_alert() -> None:
    every = RetrainPolicySpec(enabled=True, every_examples=100)
    trigger = retrain_trigger(every, PolicyState(new_examples=150))
    assert trigger is not None
    assert (trigger.metric, trigger.value, trigger.threshold) == ("new_examples", 150, 100)
    floor = RetrainPolicySpec(enabled=True, metric_floor=MetricFloorSpec(below=0.8))
    trigger = retrain_trigger(floor, BUSY)
    assert trigger is not None and (trigger.metric, trigger.value) == ("accuracy", 0.5)
    drift = RetrainPolicySpec(enabled=True, on_drift_alert=True, every_examples=1)
    trigger = retrain_trigger(drift, BUSY)  # the first that fires: drift before examples
    assert trigger is not None and trigger.metric == "drift_alerts"


def test_new_examples_count_past_the_champion_and_the_last_retraining() -> None:
    champion = trained_until({"topic": "t", "partitions": {"0": [0, 50], "1": [0, 70]}}, "t")
    assert new_examples({0: 100, 1: 100}, champion) == 80
    assert new_examples({0: 100, 1: 100}, champion, {0: 90, 1: 20}) == 40
    assert new_examples({0: 100, 1: 100}, {}, {}) == 200  # never trained on the topic
    assert trained_until({"topic": "other", "partitions": {"0": [0, 50]}}, "t") == {}
    assert trained_until(None, "t") == {}
    assert new_examples({0: 10}, {0: 50}) == 0  # a topic recreated shorter: nothing new


@pytest.mark.parametrize("metric", EVERY_METRIC)
def test_every_metric_floor_fires_only_on_its_worse_side(metric: Metric) -> None:
    better, worse = better_worse(metric, step=0.2)
    floor = (better + worse) / 2
    policy = RetrainPolicySpec(enabled=True, metric_floor=MetricFloorSpec(
        metric=metric.name, below=floor, min_examples=100))
    trigger = retrain_trigger(policy, PolicyState(live={metric.name: worse, "examples": 500}))
    assert trigger is not None and (trigger.metric, trigger.value) == (metric.name, worse)
    side = "below" if metric.higher_is_better else "above"
    assert f"is {side} {floor:g}" in trigger.message
    assert retrain_trigger(policy, PolicyState(live={metric.name: better, "examples": 500})) \
        is None
