"""When to retrain by itself (``retrain.when``): pure rules over what the pipeline knows.

:func:`retrain_trigger` decides (the first trigger that fires, with its numbers and
reason); :func:`new_examples` counts the labelled examples since the last data a model was
trained on, from end offsets alone. The driver thread around them is
``pipelines/rollout/auto_retrain.py``.

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
from typing import Any

from streaminfer.operators.metric_table import METRICS, gain
from streaminfer.pipelines.spec.retrain_policy_spec import RetrainPolicySpec


@dataclass(frozen=True)
class PolicyState:
    """What the driver knows when it asks."""

    new_examples: int = 0  # labelled examples since the champion's data range
    drift_alerts: int = 0  # drift alerts of the champion since the last retraining
    live: Mapping[str, float] = field(default_factory=dict)  # the champion's live metrics
    since_last_s: float = math.inf  # seconds since the last retraining started


@dataclass(frozen=True)
class Trigger:
    """A trigger that fired: what it measured, against what, and why (for the alert)."""

    metric: str  # "drift_alerts", "new_examples" or the live metric
    value: float
    threshold: float
    message: str


def retrain_trigger(policy: RetrainPolicySpec, state: PolicyState) -> Trigger | None:
    """The first trigger that fires now, or ``None`` (off, inside the cooldown, or none)."""
    if not policy.enabled or state.since_last_s < policy.cooldown_s:
        return None
    if policy.on_drift_alert and state.drift_alerts:
        return Trigger("drift_alerts", state.drift_alerts, 1,
                       f"{state.drift_alerts} drift alert(s) (retrain.when.on_drift_alert)")
    floor = policy.metric_floor
    if floor is not None and state.live.get("examples", 0) >= floor.min_examples:
        value = state.live.get(floor.metric, math.nan)
        if not math.isnan(value) and gain(floor.metric, value, floor.below) < 0:
            return Trigger(floor.metric, value, floor.below, (
                f"live {floor.metric} {value:.4f} is {METRICS[floor.metric].worse_side} "
                f"{floor.below:g} "
                "(retrain.when.metric_floor)"))
    if policy.every_examples is not None and state.new_examples >= policy.every_examples:
        return Trigger("new_examples", state.new_examples, policy.every_examples, (
            f"{state.new_examples} new labelled examples "
            f"(retrain.when.every_examples={policy.every_examples})"))
    return None


def retrain_reason(policy: RetrainPolicySpec, state: PolicyState) -> str | None:
    """Why to retrain now (the first trigger that fires), or ``None``."""
    trigger = retrain_trigger(policy, state)
    return None if trigger is None else trigger.message


def trained_until(data_range: Mapping[str, Any] | None, topic: str) -> dict[int, int]:
    """Where a version's training data ended in ``topic``, per partition (its recorded
    data range; empty when it has none there).

    >>> trained_until({"topic": "t", "partitions": {"0": [0, 40], "1": [5, 60]}}, "t")
    {0: 40, 1: 60}
    >>> trained_until({"files": ["a.csv"]}, "t")
    {}
    """
    if not data_range or data_range.get("topic") != topic:
        return {}
    return {int(p): int(span[1]) for p, span in data_range.get("partitions", {}).items()}


def new_examples(ends: Mapping[int, int], *seen: Mapping[int, int]) -> int:
    """Examples on the topic past the furthest of the ``seen`` offsets, per partition
    (a partition none of them names counts from 0).

    >>> new_examples({0: 100, 1: 80}, {0: 40, 1: 60}, {0: 90})
    30
    >>> new_examples({0: 100})
    100
    """
    return sum(max(0, end - max((s.get(p, 0) for s in seen), default=0))
               for p, end in ends.items())
