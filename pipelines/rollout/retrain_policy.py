"""When to retrain by itself (``retrain.when``): a pure rule over what the pipeline knows.

Only the rule is here; running ``streaminfer retrain`` from a pipeline's driver on it is not
wired yet (docs/rollout.md).

>>> from streaminfer.pipelines.spec.retrain_policy_spec import RetrainPolicySpec
>>> policy = RetrainPolicySpec(enabled=True, every_examples=1000, cooldown_s=60)
>>> retrain_reason(policy, PolicyState(new_examples=1200, since_last_s=600))
'1200 new labelled examples (retrain.when.every_examples=1000)'
>>> retrain_reason(policy, PolicyState(new_examples=1200, since_last_s=30)) is None
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from streaminfer.pipelines.rollout.rollback_rule import LOWER_IS_BETTER
from streaminfer.pipelines.spec.retrain_policy_spec import RetrainPolicySpec


@dataclass(frozen=True)
class PolicyState:
    """What the driver knows when it asks."""

    new_examples: int = 0  # labelled examples since the champion's data range
    drift_alerts: int = 0  # drift alerts of the champion since the last retraining
    live: Mapping[str, float] = field(default_factory=dict)  # the champion's live metrics
    since_last_s: float = math.inf  # seconds since the last retraining started


def retrain_reason(policy: RetrainPolicySpec, state: PolicyState) -> str | None:
    """Why to retrain now (the first trigger that fires), or ``None``."""
    if not policy.enabled or state.since_last_s < policy.cooldown_s:
        return None
    if policy.on_drift_alert and state.drift_alerts:
        return f"{state.drift_alerts} drift alert(s) (retrain.when.on_drift_alert)"
    floor = policy.metric_floor
    if floor is not None and state.live.get("examples", 0) >= floor.min_examples:
        value = state.live.get(floor.metric, math.nan)
        lower_better = floor.metric in LOWER_IS_BETTER
        if not math.isnan(value) and (value > floor.below if lower_better
                                      else value < floor.below):
            return (f"live {floor.metric} {value:.4f} is {'above' if lower_better else 'below'}"
                    f" {floor.below:g} (retrain.when.metric_floor)")
    if policy.every_examples is not None and state.new_examples >= policy.every_examples:
        return (f"{state.new_examples} new labelled examples "
                f"(retrain.when.every_examples={policy.every_examples})")
    return None
