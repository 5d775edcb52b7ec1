"""The automatic rules a following pipeline applies on each poll, on live metrics: roll a
worse new champion back (``rollout.rollback``), promote a better shadow or canary
(``rollout.promote``). The verdicts are pure (``rollback_rule.py``, ``promote_rule.py``);
this moves the aliases and records the action (log, ``Pipeline.actions()``, alerts topic).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from streaminfer.errors import RegistryError
from streaminfer.pipelines.lifecycle.promote_rule import promote_verdict
from streaminfer.pipelines.lifecycle.registry import Registry
from streaminfer.pipelines.lifecycle.roles import CHAMPION, PREVIOUS
from streaminfer.pipelines.lifecycle.rollback_rule import Live, remember, rollback_verdict
from streaminfer.pipelines.lifecycle.swap_rule import Following
from streaminfer.pipelines.rollout.actions import ActionLog
from streaminfer.pipelines.spec.rollout_spec import PromoteRuleSpec, RollbackRuleSpec

log = logging.getLogger(__name__)


@dataclass
class Guard:
    """The rules, the live metrics they read (the feedback joiners', per (model, version))."""

    live: Callable[[], Live]
    rollback: RollbackRuleSpec | None = None
    promote: PromoteRuleSpec | None = None
    known: dict[tuple[str, str], Mapping[str, float]] = field(default_factory=dict)
    refused: set[tuple[str, str]] = field(default_factory=set)  # not promotable: said once

    def apply(self, registry: Registry, actions: ActionLog, name: str, model: Following,
              aliases: dict[str, str]) -> bool:
        """Apply the rules to model ``name`` (its registry ``aliases``); whether an alias
        moved (the caller reads them again)."""
        champion = aliases.get(CHAMPION)
        if model.alias != CHAMPION or champion is None:
            return False
        live = self.live()
        return (self._rollback(registry, actions, name, model, aliases, live)
                or self._promote(registry, actions, name, model, aliases, live))

    def _rollback(self, registry: Registry, actions: ActionLog, name: str, model: Following,
                  aliases: dict[str, str], live: Live) -> bool:
        rule, champion, previous = self.rollback, aliases[CHAMPION], aliases.get(PREVIOUS)
        if rule is None or previous is None:
            return False
        remember(self.known, live, rule.min_examples)
        view = {**self.known, (name, champion): live.get((name, champion), {})}
        verdict = rollback_verdict(rule, name, champion, previous, view)
        if verdict is None:
            return False
        registry.rollback(model.name)
        actions.record("rollback", name, champion,
                       f"automatic rollback to version {previous}: {verdict.message}",
                       metric=rule.metric, value=verdict.value, threshold=verdict.baseline,
                       window=f"{rule.min_examples}+ examples", level=logging.WARNING)
        return True

    def _promote(self, registry: Registry, actions: ActionLog, name: str, model: Following,
                 aliases: dict[str, str], live: Live) -> bool:
        rule, champion, candidate = self.promote, aliases[CHAMPION], model.candidate
        if (rule is None or candidate is None or aliases.get(candidate.mode) != candidate.version
                or champion != model.serving or (name, candidate.version) in self.refused):
            return False
        verdict = promote_verdict(rule, name, champion, candidate.version, live,
                                  mode=candidate.mode)
        if verdict is None:
            return False
        try:
            registry.promote(model.name, candidate.version)
        except RegistryError as exc:  # a version the gate rejected, shadowed by hand
            self.refused.add((name, candidate.version))
            log.warning("model %s: %s version %s is better live but is not promoted "
                        "by itself: %s", name, candidate.mode, candidate.version, exc)
            return False
        actions.record("promote", name, candidate.version,
                       f"automatic promotion of version {candidate.version} (champion was "
                       f"{champion}): {verdict.message}",
                       metric=rule.metric, value=verdict.value, threshold=verdict.baseline,
                       window=f"{rule.min_examples}+ examples")
        return True
