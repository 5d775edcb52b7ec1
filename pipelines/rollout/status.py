"""One model's rollout at a moment, for a screen (``Pipeline.rollout()``): what serves, what
runs beside it, whether a retraining is running."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streaminfer.pipelines.rollout.auto_retrain import AutoRetrain
    from streaminfer.pipelines.rollout.follower import AliasFollower


@dataclass(frozen=True)
class ModelRollout:
    """One model of a running pipeline."""

    model: str
    serving: str  # the version the workers serve
    candidate: str | None = None  # the version running beside it (shadow or canary)
    candidate_mode: str | None = None  # "shadow" or "canary"
    retraining: bool = False  # an automatic retraining is running now
    retrains: int = 0  # automatic retrainings started
    retrain_reason: str | None = None  # why the last one started


def rollouts(served: dict[str, str], follower: AliasFollower | None,
             retrainer: AutoRetrain | None) -> list[ModelRollout]:
    """Every model's rollout: ``served`` (model -> version started with) as the follower
    and the automatic retraining have changed it."""
    out = []
    for model, version in served.items():
        following = follower.following.get(model) if follower is not None else None
        candidate = following.candidate if following is not None else None
        mine = retrainer is not None and retrainer.model == model
        out.append(ModelRollout(
            model, following.serving if following is not None else version,
            candidate.version if candidate else None, candidate.mode if candidate else None,
            retraining=mine and retrainer is not None and retrainer.running,
            retrains=retrainer.state.runs if mine and retrainer is not None else 0,
            retrain_reason=retrainer.state.reason if mine and retrainer is not None else None))
    return out
