"""``streaminfer models shadow | canary`` as a user runs them (the first a real process, the
rest through the same entry point in this process; a real SQLite store): the aliases and the
share they set, one clear line for what they refuse."""

from __future__ import annotations

import pytest

from streaminfer.pipelines.lifecycle.registry import Registry
from streaminfer.pipelines.lifecycle.swap_rule import CANARY_SHARE_TAG
from tests.fixtures.cli import one_clear_error, streaminfer, streaminfer_here

pytestmark = pytest.mark.integration


def test_shadow_and_canary_set_one_candidate_alias_at_a_time(
    two_versions: Registry, tmp_path: object,
) -> None:
    registry = two_versions
    uri = ("--tracking-uri", registry.uri)
    none = one_clear_error(streaminfer("models", "shadow", "bc", *uri, cwd=tmp_path))
    assert "there is no challenger to run as shadow; name a version" in none
    registry.set_alias("bc", "challenger", "2")

    shadowed = streaminfer_here("models", "shadow", "bc", *uri, cwd=tmp_path)
    assert shadowed.stdout.strip() == "bc: shadow -> v2", shadowed.stderr
    canary = streaminfer_here("models", "canary", "bc", "--share", "0.2", *uri, cwd=tmp_path)
    assert canary.stdout.split("\n")[0] == "bc: canary -> v2, shadow removed", canary.stderr
    assert registry.aliases("bc") == {"champion": "1", "challenger": "2", "canary": "2"}
    assert registry.resolve("bc", "2").tags[CANARY_SHARE_TAG] == "0.2"

    champion = one_clear_error(streaminfer_here("models", "canary", "bc", "--version", "1", *uri,
                                           cwd=tmp_path))
    assert "version 1 is the champion; a canary runs another one" in champion
    registry.tag(registry.resolve("bc", "2"), {"gate": "rejected", "gate_reason": "worse"})
    rejected = one_clear_error(streaminfer_here("models", "canary", "bc", *uri, cwd=tmp_path))
    assert "models:/bc/2 was rejected by the gate (worse); pass --force" in rejected

    stopped = streaminfer_here("models", "canary", "bc", "--stop", *uri, cwd=tmp_path)
    assert stopped.stdout.strip() == "bc: canary removed", stopped.stderr
    assert "canary" not in registry.aliases("bc")
