"""The retrain.when rule: off by default, each trigger, the cooldown, lower-is-better."""

from __future__ import annotations

from streaminfer.pipelines.rollout.retrain_policy import PolicyState, retrain_reason
from streaminfer.pipelines.spec.retrain_policy_spec import MetricFloorSpec, RetrainPolicySpec

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

