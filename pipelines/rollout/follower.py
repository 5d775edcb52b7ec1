"""The driver thread that makes a running pipeline follow its registry aliases.

Thin: every ``rollout.poll_interval_s`` it asks the registry which version each followed
alias names (one query per model), lets :func:`next_version` decide, and has the
:class:`Swapper` swap. A version that cannot serve (a changed artifact, another input) is
refused once, logged with the reason, and not tried again; a registry that does not answer
is asked again at the next poll.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from streaminfer.errors import ConfigError, ModelError, StreamInferError
from streaminfer.operators.alerts import AlertPublisher
from streaminfer.operators.alerts import alert as make_alert
from streaminfer.operators.model_runner import ModelInfo
from streaminfer.pipelines.rollout.decide import (
    Following,
    next_candidate,
    next_version,
    wanted_candidate,
)
from streaminfer.pipelines.rollout.rollback_rule import Live, remember, rollback_verdict
from streaminfer.pipelines.rollout.swapper import Models, Swapper, SwapRecord
from streaminfer.pipelines.spec.rollout_spec import RollbackRuleSpec
from streaminfer.pipelines.spec.schema import PipelineSpec
from streaminfer.pipelines.training.registry import Registry
from streaminfer.pipelines.training.roles import CHAMPION, PREVIOUS

log = logging.getLogger(__name__)


@dataclass
class Guard:
    """The automatic rollback rule, the live metrics it reads, where its alerts go."""

    rule: RollbackRuleSpec
    live: Callable[[], Live]  # the feedback joiners' live metrics per (model, version)
    alerts: AlertPublisher
    known: dict[tuple[str, str], Mapping[str, float]] = field(default_factory=dict)


class AliasFollower:
    """Polls the registry and hot-swaps the models whose alias moved; with a rollback rule,
    rolls a new champion back when its live metric says so."""

    def __init__(self, following: dict[str, Following], registry: Registry,
                 swapper: Swapper, interval_s: float, guard: Guard | None = None) -> None:
        self.following = following  # by model name (as predictions name it)
        self.registry = registry
        self.swapper = swapper
        self.interval_s = interval_s
        self.guard = guard
        self.history: list[SwapRecord] = []
        self.actions: list[dict[str, Any]] = []  # the alerts of automatic actions
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one poll at a time
        self._thread = threading.Thread(target=self._run, name="alias-follower", daemon=True)

    @property
    def serving(self) -> dict[str, str]:
        """Model name -> the version its workers serve."""
        return {name: f.serving for name, f in self.following.items()}

    def start(self) -> AliasFollower:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(self.swapper.timeout_s + 10)
        if self.guard is not None:
            self.guard.alerts.close()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.poll()

    def poll(self) -> list[SwapRecord]:
        """Ask the registry once per followed model; swap where the alias moved, and start,
        change or stop the candidate (shadow, canary) its aliases ask for."""
        made = []
        with self._lock:
            for name, model in self.following.items():
                try:
                    record = self._follow(name, model)
                except StreamInferError as exc:
                    log.warning("model %s: cannot ask the registry (%s); asking again in %.0fs",
                                name, exc, self.interval_s)
                    continue
                if record is not None:
                    made.append(record)
        return made

    def _follow(self, name: str, model: Following) -> SwapRecord | None:
        aliases = self.registry.aliases(model.name)
        if self._guard(name, model, aliases):
            aliases = self.registry.aliases(model.name)
        record = None
        target = aliases.get(model.alias)
        decision = next_version(model, target) if target else None
        if decision is not None and decision.note is not None:
            log.warning("%s", decision.note)
            model.noted.add(str(target))
        if decision is not None and decision.swap_to is not None:
            record = self._swap(name, model, decision.swap_to)
        self._candidate(name, model, aliases)
        return record

    def _guard(self, name: str, model: Following, aliases: dict[str, str]) -> bool:
        """Apply the rollback rule to a champion that has a previous one; whether it
        rolled back (the registry's aliases moved)."""
        guard = self.guard
        champion, previous = aliases.get(model.alias), aliases.get(PREVIOUS)
        if guard is None or model.alias != CHAMPION or champion is None or previous is None:
            return False
        live = guard.live()
        remember(guard.known, live, guard.rule.min_examples)
        view = {**guard.known, (name, champion): live.get((name, champion), {})}
        verdict = rollback_verdict(guard.rule, name, champion, previous, view)
        if verdict is None:
            return False
        self.registry.rollback(model.name)
        message = f"automatic rollback to version {previous}: {verdict.message}"
        log.warning("model %s: %s", name, message)
        alert = make_alert("rollback", name, champion, guard.rule.metric, verdict.value,
                           verdict.baseline, f"{guard.rule.min_examples}+ examples",
                           int(time.time() * 1000), message)
        guard.alerts.publish(alert)
        self.actions.append(alert)
        return True

    def _swap(self, name: str, model: Following, version: str) -> SwapRecord | None:
        try:
            record = self.swapper.swap(name, self.registry.resolve(model.name, version))
        except (ModelError, ConfigError) as exc:
            model.refused[version] = str(exc)
            log.error("model %s: version %s cannot serve, version %s stays: %s",
                      name, version, model.serving, exc)
            return None
        model.serving = version
        self.history.append(record)
        return record

    def _candidate(self, name: str, model: Following, aliases: dict[str, str]) -> None:
        wanted = wanted_candidate(aliases, {})
        if wanted is not None and wanted.mode == "canary":
            entry = self.registry.resolve(model.name, wanted.version)
            wanted = wanted_candidate(aliases, dict(entry.tags))
        change, wanted = next_candidate(model, wanted)
        if not change:
            return
        try:
            self.swapper.run_candidate(name, wanted, None if wanted is None else
                                       self.registry.resolve(model.name, wanted.version))
        except (ModelError, ConfigError) as exc:
            assert wanted is not None
            model.refused[wanted.version] = str(exc)
            log.error("model %s: version %s cannot run as %s: %s", name, wanted.version,
                      wanted.mode, exc)
            return
        model.candidate = wanted


def start_follower(
    declared: PipelineSpec, resolved: PipelineSpec, infos: dict[str, ModelInfo],
    live: Models, *, kafka_config: dict[str, Any] | None = None,
    live_metrics: Callable[[], Live] | None = None,
) -> AliasFollower | None:
    """Follow the aliases ``declared`` names (``models:/NAME@ALIAS``), or ``None`` when it
    names none or ``rollout.follow_aliases`` is off. ``resolved``: the spec the workers run;
    ``live_metrics`` (the feedback's) and ``kafka_config`` (for alerts) arm the rollback
    rule when the YAML has one."""
    rollout = declared.rollout
    if not rollout.follow_aliases:
        return None
    following: dict[str, Following] = {}
    for model in declared.model_specs:
        ref = model.registry_ref
        if ref is not None and ref.alias is not None:
            following[model.model_name] = Following(
                ref.name, ref.alias, serving=infos[model.model_name].version,
                serve=model.serving == "serve")
    if not following:
        return None
    registry = Registry.from_spec(declared.registry)
    models = {m.model_name: m for m in resolved.model_specs}
    swapper = Swapper(registry, models, infos, live, rollout.swap_timeout_s)
    log.info("following %s every %.0fs", ", ".join(
        f"models:/{f.name}@{f.alias}" for f in following.values()), rollout.poll_interval_s)
    guard = None
    if rollout.rollback is not None:
        if live_metrics is None or kafka_config is None:
            log.warning("rollout.rollback needs the feedback section (live metrics); the "
                        "automatic rollback is off")
        else:
            guard = Guard(rollout.rollback, live_metrics,
                          AlertPublisher(kafka_config, rollout.alerts_topic))
    return AliasFollower(following, registry, swapper, rollout.poll_interval_s,
                         guard).start()
