"""The driver thread that makes a running pipeline follow its registry aliases.

Thin: every ``rollout.poll_interval_s`` it asks the registry which version each followed
alias names (one query per model), lets :func:`next_version` decide, and has the
:class:`Swapper` swap. A version that cannot serve (a changed artifact, another input) is
refused once, logged with the reason, and not tried again; a registry that does not answer
is asked again at the next poll. Any other error of a poll (a model store that died, Ray
going away) is the :class:`DriverThread` policy's: logged at WARNING, kept for the stats,
and the next poll runs as usual.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from streaminfer.errors import ConfigError, ModelError, StreamInferError
from streaminfer.operators.model_runner import ModelInfo
from streaminfer.pipelines.lifecycle.registry import Registry
from streaminfer.pipelines.lifecycle.rollback_rule import Live
from streaminfer.pipelines.lifecycle.swap_rule import (
    Following,
    next_candidate,
    next_version,
    wanted_candidate,
)
from streaminfer.pipelines.rollout.actions import ActionLog
from streaminfer.pipelines.rollout.guard import Guard
from streaminfer.pipelines.rollout.swapper import Models, Swapper, SwapRecord
from streaminfer.pipelines.runtime.driver_thread import DriverThread
from streaminfer.pipelines.spec.schema import PipelineSpec

log = logging.getLogger(__name__)


class AliasFollower:
    """Polls the registry and hot-swaps the models whose alias moved; with a guard, rolls a
    new champion back or promotes a shadow when the live metrics say so. Every swap, shadow
    start and automatic move is recorded in ``log`` (and published when it has a topic)."""

    def __init__(self, following: dict[str, Following], registry: Registry,
                 swapper: Swapper, interval_s: float, guard: Guard | None = None, *,
                 log: ActionLog | None = None,
                 on_shadow: Callable[[], None] | None = None) -> None:
        self.following = following  # by model name (as predictions name it)
        self.registry = registry
        self.swapper = swapper
        self.interval_s = interval_s
        self.guard = guard
        self.log = log or ActionLog(None)
        self.on_shadow = on_shadow  # called before a shadow starts (its live metrics)
        self.history: list[SwapRecord] = []
        self._lock = threading.Lock()  # one poll at a time
        self.thread = DriverThread("alias-follower", "alias follower", interval_s, self.poll)

    @property
    def actions(self) -> list[dict[str, Any]]:
        """The recorded actions (alerts), newest last."""
        return self.log.recent()

    @property
    def serving(self) -> dict[str, str]:
        """Model name -> the version its workers serve."""
        return {name: f.serving for name, f in self.following.items()}

    def start(self) -> AliasFollower:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.thread.stop(self.swapper.timeout_s + 10)

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
        if self.guard is not None and self.guard.apply(self.registry, self.log, name, model,
                                                       aliases):
            aliases = self.registry.aliases(model.name)
        record = None
        target = aliases.get(model.alias)
        decision = next_version(model, target) if target else None
        if decision is not None and decision.swap_to is not None:
            record = self._swap(name, model, decision.swap_to)
        self._candidate(name, model, aliases)
        return record

    def _swap(self, name: str, model: Following, version: str) -> SwapRecord | None:
        try:
            record = self.swapper.swap(name, self.registry.resolve(model.name, version))
        except (ModelError, ConfigError) as exc:
            model.refused[version] = str(exc)
            log.error("model %s: version %s cannot serve, version %s stays: %s",
                      name, version, model.serving, exc)
            return None
        was, model.serving = model.serving, version
        self.history.append(record)
        done = sum(answer == version for answer in record.workers.values())
        self.log.record("swap", name, version, f"serving version {version} (was {was}) on "
                        f"{done} of {len(record.workers)} worker(s) after "
                        f"{record.done_s - record.started_s:.2f}s")
        return record

    def _candidate(self, name: str, model: Following, aliases: dict[str, str]) -> None:
        wanted = wanted_candidate(aliases, {})
        if wanted is not None and wanted.mode == "canary":
            entry = self.registry.resolve(model.name, wanted.version)
            wanted = wanted_candidate(aliases, dict(entry.tags))
        change, wanted = next_candidate(model, wanted)
        if not change:
            return
        if wanted is not None and wanted.mode == "shadow" and self.on_shadow is not None:
            try:
                self.on_shadow()
            except Exception as exc:  # the shadow runs anyway, with agreement only
                log.warning("model %s: no live metrics for the shadow: %s", name, exc)
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
        if wanted is not None and wanted.mode == "shadow":
            self.log.record("shadow", name, wanted.version, f"version {wanted.version} "
                            f"shadows version {model.serving}: it scores a copy of every "
                            "event, its predictions go to the shadow topic only")
        elif wanted is not None:
            self.log.record("canary", name, wanted.version, f"version {wanted.version} "
                            f"answers {wanted.share:.0%} of the events beside version "
                            f"{model.serving} (chosen by a hash of the event id)",
                            value=wanted.share)


def start_follower(
    declared: PipelineSpec, resolved: PipelineSpec, infos: dict[str, ModelInfo],
    live: Models, *, actions: ActionLog | None = None,
    live_metrics: Callable[[], Live] | None = None,
    on_shadow: Callable[[], None] | None = None,
) -> AliasFollower | None:
    """Follow the aliases ``declared`` names (``models:/NAME@ALIAS``), or ``None`` when it
    names none or ``rollout.follow_aliases`` is off. ``resolved``: the spec the workers run;
    ``live_metrics`` (the feedback's) arms the rollback and promote rules when the YAML has
    them; ``actions`` records what the follower does; ``on_shadow`` runs before a shadow
    starts."""
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
    if rollout.rollback is not None or rollout.promote is not None:
        if live_metrics is None:
            log.warning("rollout.rollback and rollout.promote need the feedback section "
                        "(live metrics); they are off")
        else:
            guard = Guard(live_metrics, rollout.rollback, rollout.promote)
    return AliasFollower(following, registry, swapper, rollout.poll_interval_s, guard,
                         log=actions, on_shadow=on_shadow).start()
