"""The ``rollout`` section: how a running pipeline follows its registry aliases.

>>> RolloutSpec().poll_interval_s
5.0
"""

from __future__ import annotations

from pydantic import Field

from streaminfer.pipelines.spec.base import FrozenModel, TopicName


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
