"""What each model of a running pipeline runs now, for screens and ``streaminfer status``
(``Pipeline.models()``): its version, the alias it follows, the candidate beside it, and its
automatic retraining."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from streaminfer.pipelines.lifecycle.swap_rule import Following

if TYPE_CHECKING:
    from streaminfer.pipelines.rollout.auto_retrain import AutoRetrain


@dataclass(frozen=True)
class ModelServing:
    """One model of a running pipeline, now."""

    model: str
    version: str  # the version the workers run
    follows: str | None = None  # models:/NAME@ALIAS
    candidate: str | None = None  # the version running beside it
    mode: str | None = None  # the candidate's: shadow or canary
    share: float = 0.0  # canary: the share of events it answers
    retraining: bool = False  # an automatic retraining is running now
    retrains: int = 0  # automatic retrainings started
    retrain_reason: str | None = None  # why the last one started


def models_serving(started: Mapping[str, str], following: Mapping[str, Following],
                   retrainer: AutoRetrain | None = None) -> list[ModelServing]:
    """Per model (``started``: name -> the version it started with): the version serving
    now, from the alias follower's record where it follows one, and the automatic
    retraining's state for the model it retrains.

    >>> f = Following("bc", "champion", serving="2", serve=False)
    >>> found = models_serving({"bc": "1", "x": "9"}, {"bc": f})
    >>> [(m.model, m.version, m.follows) for m in found]
    [('bc', '2', 'models:/bc@champion'), ('x', '9', None)]
    """
    out = []
    for name, version in sorted(started.items()):
        retrains = {}
        if retrainer is not None and retrainer.model == name:
            retrains = {"retraining": retrainer.running, "retrains": retrainer.state.runs,
                        "retrain_reason": retrainer.state.reason}
        model = following.get(name)
        if model is None:
            out.append(ModelServing(name, version, **retrains))  # type: ignore[arg-type]
            continue
        candidate = model.candidate
        out.append(ModelServing(
            name, model.serving, f"models:/{model.name}@{model.alias}",
            candidate.version if candidate else None, candidate.mode if candidate else None,
            candidate.share if candidate else 0.0, **retrains))  # type: ignore[arg-type]
    return out
