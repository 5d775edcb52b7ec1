"""The ``rollout`` section: how a running pipeline follows its registry aliases.

>>> RolloutSpec().poll_interval_s
5.0
"""

from __future__ import annotations

from pydantic import Field

from streaminfer.pipelines.spec.base import FrozenModel, TopicName
from streaminfer.pipelines.spec.metric_names import MetricName


class RollbackRuleSpec(FrozenModel):
    """Roll a new champion back by itself when its live metric (from the feedback joiner)
    is worse than the previous champion's by more than ``max_drop``."""

    metric: MetricName = Field(
        "accuracy", description="Live metric compared (the metric table in "
        "docs/configuration.md); 'worse' follows its direction (higher where lower is "
        "better).",
    )
    max_drop: float = Field(
        0.05, ge=0, description="How much worse than the previous champion's the new "
        "champion's metric may be before the rollback.",
    )
    min_examples: int = Field(
        200, ge=1, description="Labelled examples of each version in the live window before "
        "the rule is applied (fewer give a noisy metric).",
    )


class PromoteRuleSpec(FrozenModel):
    """Promote a shadow by itself when its live metric (from the feedback joiners) is at
    least the champion's plus ``min_gain``."""

    metric: MetricName = Field(
        "accuracy", description="Live metric compared (the metric table in "
        "docs/configuration.md); where lower is better the shadow must be lower by min_gain.",
    )
    min_gain: float = Field(
        0.0, ge=0, description="How much better than the champion's the shadow's metric must "
        "be.",
    )
    min_examples: int = Field(
        200, ge=1, description="Labelled examples of each (shadow and champion) in the live "
        "window before the rule is applied.",
    )


class RolloutSpec(FrozenModel):
    """A model named ``models:/NAME@ALIAS`` follows the alias while the pipeline runs: when
    the alias moves (``streaminfer models promote`` / ``rollback``), the workers swap to the
    new version at a batch boundary, without a restart (docs/rollout.md)."""

    follow_aliases: bool = Field(
        True, description="Poll the registry and hot-swap when an alias moves (false: the "
        "version resolved at start serves until a restart).",
    )
    poll_interval_s: float = Field(
        5.0, gt=0, le=3_600, description="Seconds between two registry queries for the "
        "version each alias names (one cheap query per model).",
    )
    swap_timeout_s: float = Field(
        60.0, gt=0, le=3_600, description="Seconds each worker has to load the new version "
        "and apply it at its next batch boundary.",
    )
    shadow_topic: TopicName | None = Field(
        None, description="Topic of a shadow candidate's predictions (never the predictions "
        "topic); default: the predictions topic's name with '-shadow' appended.",
    )

    def shadow_topic_for(self, predictions_topic: str) -> str:
        """Where a shadow's predictions go.

        >>> RolloutSpec().shadow_topic_for("bc-predictions")
        'bc-predictions-shadow'
        """
        return self.shadow_topic or f"{predictions_topic}-shadow"
    rollback: RollbackRuleSpec | None = Field(
        None, description="Automatic rollback of a new champion on its live metrics (needs "
        "the feedback section); off when absent.",
    )
    promote: PromoteRuleSpec | None = Field(
        None, description="Automatic promotion of a shadow on its live metrics (needs the "
        "feedback section); off when absent.",
    )
    alerts_topic: TopicName = Field(
        "streaminfer-alerts", description="Topic that receives one alert per automatic "
        "action (the Alert contract in docs/contracts.md).",
    )
