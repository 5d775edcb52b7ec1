"""Which alias moves where on promote and rollback: pure rules over a model's aliases.

Aliases name roles: ``champion`` serves, ``challenger`` passed the gate and waits,
``previous`` is the champion before the last promotion (what a rollback returns to),
``shadow`` and ``canary`` run a candidate beside the champion (docs/rollout.md).

>>> promotion({"champion": "1", "challenger": "2"}, None)
AliasMoves(set={'champion': '2', 'previous': '1'}, remove=('challenger',))
>>> promotion({"champion": "1", "challenger": "2", "shadow": "2"}, "2").remove
('challenger', 'shadow')
>>> rollback({"champion": "2", "previous": "1"})
AliasMoves(set={'champion': '1'}, remove=('previous',))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from streaminfer.errors import RegistryError

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS = "previous"
SHADOW = "shadow"  # alias of the version that shadows the champion
CANARY = "canary"  # alias of the version that answers a share of the events
SERVING = (CHAMPION, SHADOW, CANARY)  # roles whose version a running pipeline loads


@dataclass(frozen=True)
class AliasMoves:
    """Aliases to point at versions, and aliases to remove."""

    set: dict[str, str] = field(default_factory=dict)
    remove: tuple[str, ...] = ()


def served(aliases: Mapping[str, str], moves: AliasMoves) -> tuple[str, ...]:
    """The versions that ``moves`` newly give a serving role (their artifact must load).

    >>> served({"champion": "1"}, AliasMoves({"champion": "2", "previous": "1"}))
    ('2',)
    >>> served({"shadow": "3"}, AliasMoves({"shadow": "3"}))
    ()
    """
    return tuple(dict.fromkeys(version for alias, version in moves.set.items()
                               if alias in SERVING and aliases.get(alias) != version))


def promotion(aliases: Mapping[str, str], version: str | None) -> AliasMoves:
    """Make ``version`` (default: the challenger) the champion; the old one becomes previous."""
    target = version or aliases.get(CHALLENGER)
    if target is None:
        raise RegistryError("there is no challenger to promote; name a version "
                            "(`streaminfer models list` shows them)")
    champion = aliases.get(CHAMPION)
    if champion == target:
        raise RegistryError(f"version {target} is already the champion")
    moves = {CHAMPION: target}
    if champion is not None:
        moves[PREVIOUS] = champion
    # the promoted version serves now: it is no longer waiting, shadowing or a canary
    remove = tuple(role for role in (CHALLENGER, SHADOW, CANARY) if aliases.get(role) == target)
    return AliasMoves(moves, remove)


def rollback(aliases: Mapping[str, str]) -> AliasMoves:
    """Give the champion role back to the previous champion."""
    previous = aliases.get(PREVIOUS)
    if previous is None:
        raise RegistryError("there is no previous champion to roll back to (no promotion "
                            "since the last rollback)")
    return AliasMoves({CHAMPION: previous}, (PREVIOUS,))
