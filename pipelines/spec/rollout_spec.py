"""The ``rollout`` section: how a running pipeline follows its registry aliases.

>>> RolloutSpec().poll_interval_s
5.0
"""

from __future__ import annotations

from pydantic import Field

from streaminfer.pipelines.spec.base import FrozenModel


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
