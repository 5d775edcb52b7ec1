"""The guard against a real MLflow SQLite store: a better shadow is promoted (the shadow
alias goes, the action is recorded with both numbers); one the gate rejected is not, and
the guard says so once; without a running shadow nothing moves."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from streaminfer.pipelines.lifecycle.registry import TAG_GATE, Lineage, Registry
from streaminfer.pipelines.lifecycle.swap_rule import Following
from streaminfer.pipelines.lifecycle.versions import Candidate, Mode
from streaminfer.pipelines.rollout.actions import ActionLog
from streaminfer.pipelines.rollout.guard import Guard
from streaminfer.pipelines.spec.rollout_spec import PromoteRuleSpec

RULE = PromoteRuleSpec(metric="accuracy", min_gain=0.05, min_examples=100)
LIVE = {("bc", "1"): {"accuracy": 0.6, "examples": 300},
        ("bc", "2"): {"accuracy": 0.9, "examples": 150}}


def setup(registry: Registry, onnx: Path, *, rejected: bool,
          mode: Mode = "shadow") -> Following:
    registry.register_model("bc", onnx, metrics={}, lineage=Lineage("import"))
    registry.register_model("bc", onnx, metrics={}, lineage=Lineage("retrain"),
                            tags={TAG_GATE: "rejected" if rejected else "passed"})
    registry.set_alias("bc", "champion", "1")
    registry.set_alias("bc", mode, "2")
    return Following("bc", "champion", serving="1", serve=False,
                     candidate=Candidate("2", mode, 0.1 if mode == "canary" else 0.0))


@pytest.mark.parametrize("mode", ["shadow", "canary"])
def test_a_better_candidate_is_promoted_and_its_alias_removed(
    registry: Registry, model_factory: Callable[[str], Path], mode: Mode,
) -> None:
    model = setup(registry, model_factory("breast_cancer"), rejected=False, mode=mode)
    actions = ActionLog(None)
    guard = Guard(lambda: LIVE, promote=RULE)
    assert guard.apply(registry, actions, "bc", model, registry.aliases("bc"))
    assert registry.aliases("bc") == {"champion": "2", "previous": "1"}
    [action] = actions.recent()
    assert (action["kind"], action["version"], action["value"], action["threshold"]) == (
        "promote", "2", 0.9, 0.6)
    assert action["window"] == "100+ examples" and f"{mode} version 2" in action["message"]


def test_a_rejected_shadow_or_no_shadow_moves_nothing(
    registry: Registry, model_factory: Callable[[str], Path],
) -> None:
    model = setup(registry, model_factory("breast_cancer"), rejected=True)
    actions = ActionLog(None)
    guard = Guard(lambda: LIVE, promote=RULE)
    before = registry.aliases("bc")
    assert not guard.apply(registry, actions, "bc", model, before)
    assert guard.refused == {("bc", "2")} and registry.aliases("bc") == before
    assert not guard.apply(registry, actions, "bc", model, before)  # not asked again
    model.candidate = None
    guard.refused.clear()
    assert not guard.apply(registry, actions, "bc", model, before)
    assert actions.recent() == []
