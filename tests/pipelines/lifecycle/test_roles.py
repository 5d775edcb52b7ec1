"""Alias moves of promote and rollback (pure)."""

from __future__ import annotations

import pytest

from streaminfer.errors import RegistryError
from streaminfer.pipelines.lifecycle.roles import AliasMoves, promotion, rollback


def test_promoting_the_challenger_keeps_the_old_champion_as_previous() -> None:
    assert promotion({"champion": "1", "challenger": "3"}, None) == AliasMoves(
        {"champion": "3", "previous": "1"}, ("challenger",))


def test_promoting_a_named_version_leaves_another_challenger_alone() -> None:
    assert promotion({"champion": "1", "challenger": "3"}, "2") == AliasMoves(
        {"champion": "2", "previous": "1"}, ())


def test_the_first_champion_has_no_previous() -> None:
    assert promotion({"challenger": "1"}, None) == AliasMoves({"champion": "1"},
                                                             ("challenger",))


def test_rollback_returns_to_previous_and_forgets_it() -> None:
    assert rollback({"champion": "3", "previous": "1"}) == AliasMoves({"champion": "1"},
                                                                      ("previous",))


@pytest.mark.parametrize(("call", "message"), [
    (lambda: promotion({"champion": "1"}, None), "no challenger"),
    (lambda: promotion({"champion": "1"}, "1"), "already the champion"),
    (lambda: rollback({"champion": "1"}), "no previous champion"),
])
def test_impossible_moves_say_why(call: object, message: str) -> None:
    with pytest.raises(RegistryError, match=message):
        call()  # type: ignore[operator]
