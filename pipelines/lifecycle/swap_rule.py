"""Which version a running model should swap to: pure rules, no registry, no Ray.

>>> next_version(Following("bc", "champion", serving="1", serve=False), "2")
SwapDecision(swap_to='2')
>>> next_version(Following("bc", "champion", serving="2", serve=False), "2")
SwapDecision(swap_to=None)
>>> next_version(Following("bc", "champion", serving="1", serve=False, refused={"2": "bad"}),
...              "2")
SwapDecision(swap_to=None)
>>> next_version(Following("bc", "champion", serving="1", serve=True), "2")
SwapDecision(swap_to='2')
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from streaminfer.errors import ConfigError, RegistryError
from streaminfer.operators.model_runner import ModelInfo
from streaminfer.pipelines.lifecycle.roles import (
    CANARY,
    CHALLENGER,
    CHAMPION,
    SHADOW,
    AliasMoves,
)
from streaminfer.pipelines.lifecycle.versions import Candidate, Mode

CANARY_SHARE_TAG = "canary_share"  # version tag: that share, 0..1


@dataclass
class Following:
    """One model that follows a registry alias, and what it runs now."""

    name: str  # the registered model's name
    alias: str
    serving: str  # the version the workers run
    serve: bool  # on Ray Serve replicas (hot-swapped; no shadow or canary there yet)
    refused: dict[str, str] = field(default_factory=dict)  # version -> why it cannot run
    candidate: Candidate[str] | None = None  # the candidate the workers run


@dataclass(frozen=True)
class SwapDecision:
    """Whether to swap the serving version: to ``swap_to`` (``None``: keep it)."""

    swap_to: str | None


def next_version(model: Following, target: str) -> SwapDecision:
    """What to do when the alias names version ``target``."""
    if target == model.serving or target in model.refused:
        return SwapDecision(None)
    return SwapDecision(target)


def check_same_input(name: str, new: ModelInfo, was: ModelInfo) -> None:
    """Raise ``ConfigError`` unless version ``new`` of a model takes the input ``was`` takes."""
    if (new.input_width, new.input_dtype) != (was.input_width, was.input_dtype):
        raise ConfigError(
            f"model {name}: version {new.version} takes {new.input_width} "
            f"{np.dtype(new.input_dtype).name} features, version {was.version} "
            f"{was.input_width} {np.dtype(was.input_dtype).name}; a running pipeline can "
            "only swap to a model with the same input")
    if (new.bindings is not None or was.bindings is not None) and new.inputs != was.inputs:
        raise ConfigError(
            f"model {name}: version {new.version} takes {new.input_summary()}, version "
            f"{was.version} {was.input_summary()}; a running pipeline can only swap to a "
            "model with the same inputs")


def wanted_candidate(aliases: dict[str, str], tags: dict[str, str]) -> Candidate[str] | None:
    """The candidate a model's aliases ask for: ``canary`` (its share from the version tag
    ``canary_share``) before ``shadow``; none when neither is set.

    >>> wanted_candidate({"champion": "1", "shadow": "2"}, {})
    Candidate(version='2', mode='shadow', share=0.0)
    >>> wanted_candidate({"canary": "3"}, {"canary_share": "0.1"})
    Candidate(version='3', mode='canary', share=0.1)
    """
    if CANARY in aliases:
        share = min(1.0, max(0.0, float(tags.get(CANARY_SHARE_TAG, "0") or 0)))
        return Candidate(aliases[CANARY], "canary", share)
    if SHADOW in aliases:
        return Candidate(aliases[SHADOW], "shadow")
    return None


def next_candidate(model: Following, wanted: Candidate[str] | None
                   ) -> tuple[bool, Candidate[str] | None]:
    """Whether the workers' candidate must change, and to what (``None``: none). A
    candidate that is the serving version, or was refused, runs as none.

    >>> f = Following("bc", "champion", serving="1", serve=False)
    >>> next_candidate(f, Candidate("2", "shadow"))
    (True, Candidate(version='2', mode='shadow', share=0.0))
    >>> next_candidate(f, Candidate("1", "canary", 0.1))
    (False, None)
    """
    if wanted is not None and (wanted.version == model.serving or model.serve
                               or wanted.version in model.refused):
        wanted = None
    return wanted != model.candidate, wanted


def candidate_moves(aliases: dict[str, str], mode: Mode, version: str | None,
                    *, stop: bool = False) -> AliasMoves:
    """Alias moves that start (or, with ``stop``, end) a shadow or a canary: one candidate
    at a time, so starting one ends the other; ``version`` defaults to the challenger.

    >>> candidate_moves({"champion": "1", "challenger": "2"}, "shadow", None)
    AliasMoves(set={'shadow': '2'}, remove=())
    >>> candidate_moves({"champion": "1", "shadow": "2"}, "canary", "2")
    AliasMoves(set={'canary': '2'}, remove=('shadow',))
    >>> candidate_moves({"champion": "1", "canary": "2"}, "canary", None, stop=True)
    AliasMoves(set={}, remove=('canary',))
    """
    alias, other = (SHADOW, CANARY) if mode == "shadow" else (CANARY, SHADOW)
    if stop:
        if alias not in aliases:
            raise RegistryError(f"there is no {mode} to stop")
        return AliasMoves({}, (alias,))
    target = version or aliases.get(CHALLENGER)
    if target is None:
        raise RegistryError(f"there is no challenger to run as {mode}; name a version "
                            "(`streaminfer models list` shows them)")
    if aliases.get(CHAMPION) == target:
        raise RegistryError(f"version {target} is the champion; a {mode} runs another one")
    return AliasMoves({alias: target}, (other,) if other in aliases else ())
