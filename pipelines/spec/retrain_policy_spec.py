"""The ``retrain.when`` section: when a running pipeline would retrain by itself (off by
default).

>>> RetrainPolicySpec().enabled
False
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from streaminfer.pipelines.spec.base import FrozenModel
from streaminfer.pipelines.spec.metric_names import MetricName


class MetricFloorSpec(FrozenModel):
    """Retrain when a live metric of the champion falls below a floor."""

    metric: MetricName = Field("accuracy", description="Live metric watched (the metric table "
                               "in docs/configuration.md).")
    below: float = Field(description="Retrain when the metric is worse than this: below it, "
                         "or above it for a metric where lower is better.")
    min_examples: int = Field(200, ge=1, description="Labelled examples in the live window "
                              "before the floor is applied.")


class RetrainPolicySpec(FrozenModel):
    """Triggers of an automatic retraining; any one of them starts it. Off by default."""

    enabled: bool = Field(False, description="Retrain by itself when a trigger fires.")
    on_drift_alert: bool = Field(
        False, description="Retrain after a drift alert of the champion.")
    metric_floor: MetricFloorSpec | None = Field(
        None, description="Retrain when the champion's live metric falls below a floor.")
    every_examples: int | None = Field(
        None, ge=1, description="Retrain after this many new labelled examples.")
    cooldown_s: float = Field(
        3_600.0, ge=0, description="Seconds after a retraining started before another may "
        "start (a failed one counts too).")
    then: Literal["register", "shadow", "canary"] = Field(
        "register", description="What happens to a candidate that passes the gate: "
        "'register' (registered with the challenger alias, as `streaminfer retrain` does), "
        "'shadow' (also set as the shadow: the running pipeline scores a copy of every event "
        "with it) or 'canary' (also set as the canary: it answers canary_share of the "
        "events); rollout.promote can then promote it.")
    canary_share: float = Field(
        0.1, ge=0, le=1, description="With then: canary, the share of the events the "
        "candidate answers (stable per event id).")
    check_every_s: float = Field(
        5.0, gt=0, le=3_600, description="Seconds between two looks at the triggers (a look "
        "reads the training topic's end offsets, not its records).")
    num_cpus: float = Field(
        1.0, gt=0, description="CPUs Ray reserves for the retraining task.")
