"""One pool of loop actors (source workers, joiners, shadow joiners): start, read, retire.

What every pool does the same way lives here: start a set of actors and keep all or none
(:meth:`ActorPool.start`), read their counters without effects (:meth:`ActorPool.read`),
keep what a reading taught (:meth:`ActorPool.note`: last counters, deaths, metric
families, and the crashes: a run that said why it crashed, or ended in a restart without
saying), and retire actors (:meth:`ActorPool.retire`: drain, close, keep their final
counters). A retired actor's metric series end with it: the pool publishes an actor's
families only while the actor is in the pool, and forgets them when it leaves, under one
lock, so a reading that races a retirement cannot bring them back.

How the pool talks to its actors is :class:`RayActors` (Ray); unit tests give plain objects.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from streaminfer.errors import PipelineError
from streaminfer.pipelines.runtime.crash_loop import Crash, Incarnation, Run, new_crashes

#: Longest wait for started actors to say they run.
READY_TIMEOUT_S = 120.0
#: Longest wait for the actors' counters in one reading.
STATS_TIMEOUT_S = 5.0


class Reported(Run, Protocol):
    """What an actor's counters carry for the driver: its run (:class:`~.crash_loop.Run`)
    and its metric families."""

    @property
    def families(self) -> list[Any]: ...


S = TypeVar("S", bound=Reported)


@dataclass(frozen=True)
class Reading(Generic[S]):
    """What the actors answered to one round of ``stats`` calls (by actor name)."""

    answered: dict[str, S] = field(default_factory=dict)
    died: frozenset[str] = frozenset()  # dead beyond their restarts
    asked: frozenset[str] = frozenset()


class Series(Protocol):
    """Where an actor's metric families are served (the driver's ``WorkerFamilies``)."""

    def update(self, actor: str, families: list[Any]) -> None: ...

    def forget(self, actor: str) -> None: ...


class Actors(Protocol):
    """How a pool talks to its actors (Ray's handles; plain objects in unit tests)."""

    def ready(self, actors: dict[str, Any]) -> dict[str, str]: ...

    def stats(self, actors: dict[str, Any], families: bool) -> tuple[dict[str, Any], set[str]]:
        ...

    def retire(self, actors: dict[str, Any], timeout_s: float) -> dict[str, Any]: ...

    def kill(self, actor: Any) -> None: ...

    def dead_nodes(self) -> set[str]: ...

    def tell(self, actor: Any, method: str) -> None: ...

    def ask(self, actors: dict[str, Any], method: str, args: tuple[Any, ...],
            timeout_s: float) -> dict[str, str]: ...


class RayActors:
    """:class:`Actors` for Ray actor handles of :class:`~.loop_actor.LoopActor` s."""

    def ready(self, actors: dict[str, Any]) -> dict[str, str]:
        """Wait until each runs; actor -> why it could not start (only those that failed)."""
        import ray

        errors = ray.get([actor.ready.remote() for actor in actors.values()],
                         timeout=READY_TIMEOUT_S)
        return {name: error for name, error in zip(actors, errors, strict=True) if error}

    def stats(self, actors: dict[str, Any], families: bool) -> tuple[dict[str, Any], set[str]]:
        """Their counters (those that answered in time) and those dead beyond restarts."""
        import ray

        refs = {actor.stats.remote(families): name for name, actor in actors.items()}
        ready, _ = ray.wait(list(refs), num_returns=len(refs), timeout=STATS_TIMEOUT_S)
        answered: dict[str, Any] = {}
        died: set[str] = set()
        for ref in ready:
            try:
                stats = ray.get(ref)
            except ray.exceptions.ActorDiedError:
                died.add(refs[ref])
            except ray.exceptions.RayError:  # restarting, or slow
                continue
            else:
                if stats is not None:
                    answered[refs[ref]] = stats
        return answered, died

    def retire(self, actors: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        """Drain them all (finish, commit), then close them all at once and end them; the
        final counters of those that answered. Draining first means no departing member
        drags the others through a rebalance while they shut down."""
        import ray

        draining = [actor.drain.remote(timeout_s) for actor in actors.values()]
        ray.wait(draining, num_returns=len(draining), timeout=timeout_s + 5)
        closing = {actor.close.remote(): name for name, actor in actors.items()}
        ready, _ = ray.wait(list(closing), num_returns=len(closing), timeout=timeout_s)
        final: dict[str, Any] = {}
        for ref in ready:
            try:
                stats = ray.get(ref)
            except ray.exceptions.RayError:
                continue
            if stats is not None:
                final[closing[ref]] = stats
        for actor in actors.values():
            ray.kill(actor, no_restart=True)
        return final

    def kill(self, actor: Any) -> None:
        import ray

        ray.kill(actor, no_restart=True)

    def dead_nodes(self) -> set[str]:
        """The ids of the cluster's nodes Ray has marked dead."""
        import ray

        nodes = ray.nodes()  # type: ignore[no-untyped-call]
        return {node["NodeID"] for node in nodes if not node["Alive"]}

    def tell(self, actor: Any, method: str) -> None:
        """Call ``method()`` on it without waiting for an answer."""
        getattr(actor, method).remote()

    def ask(self, actors: dict[str, Any], method: str, args: tuple[Any, ...],
            timeout_s: float) -> dict[str, str]:
        """Call ``method(*args)`` on each; actor -> its answer, or why none."""
        import ray

        refs = {name: getattr(actor, method).remote(*args) for name, actor in actors.items()}
        ready, _ = ray.wait(list(refs.values()), num_returns=len(refs), timeout=timeout_s + 5)
        answers: dict[str, str] = {}
        for name, ref in refs.items():
            if ref not in ready:
                answers[name] = "no answer"
                continue
            try:
                answers[name] = str(ray.get(ref))
            except ray.exceptions.RayError as exc:
                answers[name] = f"failed: {str(exc).strip().splitlines()[-1]}"
        return answers


class ActorPool(Generic[S]):
    """The actors of one kind (``kind`` names them in errors), by name in start order;
    thread safe. ``series``: where their metric families are served (``None``: nowhere)."""

    def __init__(self, kind: str, *, series: Series | None = None,
                 actors: Actors | None = None) -> None:
        self.kind = kind
        self.series = series
        self._ray: Actors = actors if actors is not None else RayActors()
        self._actors: dict[str, Any] = {}
        self._last: dict[str, S] = {}
        self._dead: set[str] = set()
        self._crashed: set[Incarnation] = set()  # runs whose end was counted as a crash
        self._lock = threading.Lock()  # guards the fields above

    @property
    def names(self) -> list[str]:
        """The actors' names, in start order."""
        with self._lock:
            return list(self._actors)

    @property
    def count(self) -> int:
        """Actors running (or restarting): those in the pool not dead beyond restarts."""
        with self._lock:
            return len(set(self._actors) - self._dead)

    @property
    def dead(self) -> set[str]:
        with self._lock:
            return set(self._dead)

    def last(self) -> dict[str, S]:
        """Every actor's last counters (retired ones' final counters too)."""
        with self._lock:
            return dict(self._last)

    def start(self, makers: dict[str, Callable[[], Any]]) -> None:
        """Create an actor per name and wait until each runs; if one cannot start, none is
        kept (all are killed) and a :class:`PipelineError` says why."""
        started: dict[str, Any] = {}
        try:
            for name, make in makers.items():
                started[name] = make()
            failed = self._ray.ready(started) if started else {}
        except Exception:
            for actor in started.values():
                self._ray.kill(actor)
            raise
        if failed:
            for actor in started.values():
                self._ray.kill(actor)
            raise PipelineError(f"{self.kind}(s) could not start: " + "; ".join(
                f"{name}: {error}" for name, error in failed.items()))
        with self._lock:
            self._actors.update(started)

    def retire(self, names: Iterable[str], timeout_s: float) -> None:
        """Drain and end these actors, keep their final counters; their series end."""
        with self._lock:
            leaving = {name: self._actors.pop(name) for name in list(names)
                       if name in self._actors}
            self._end_series(leaving)
        if leaving:
            final = self._ray.retire(leaving, timeout_s)
            with self._lock:
                self._last.update(final)

    def retire_all(self, timeout_s: float) -> int:
        """Retire every actor; how many there were."""
        names = self.names
        self.retire(names, timeout_s)
        return len(names)

    def forget_dead(self) -> None:
        """Drop the actors Ray gave up on (dead beyond their restarts); their series end."""
        with self._lock:
            dead = {name: self._actors.pop(name) for name in list(self._actors)
                    if name in self._dead}
            self._end_series(dead)
        for actor in dead.values():
            self._ray.kill(actor)

    def _end_series(self, names: Iterable[str]) -> None:
        if self.series is not None:
            for name in names:
                self.series.forget(name)

    def read(self, *, families: bool = False) -> Reading[S]:
        """Ask every actor for its counters (with ``families``, its Prometheus metric
        families too). Changes nothing."""
        with self._lock:
            actors = dict(self._actors)
        answered, died = self._ray.stats(actors, families)
        return Reading(answered, frozenset(died), frozenset(actors))

    def note(self, reading: Reading[S]) -> list[Crash]:
        """Keep what a reading taught: each answer as the actor's last counters, the actors
        that died beyond their restarts, and (with ``series``) the families of those still in
        the pool. Returns the crashes not seen before; an actor that said why it crashed is
        told it was heard (its process ends then)."""
        with self._lock:
            found = new_crashes(self._last, reading.answered, self._crashed, time.time(),
                                self._ray.dead_nodes)
            self._crashed.update(run for run, _ in found)
            self._last.update(reading.answered)
            self._dead |= reading.died
            if self.series is not None:
                for name, stats in reading.answered.items():
                    if name in self._actors:
                        self.series.update(name, stats.families)
        for name, stats in reading.answered.items():
            if stats.crashed is not None:
                self.tell(name, "crash_read")
        return [crash for _, crash in found]

    def current(self, reading: Reading[S]) -> dict[str, S]:
        """Counters of the actors asked: fresh where one answered, else its last ones."""
        with self._lock:
            last = dict(self._last)
        last.update(reading.answered)
        return {name: last[name] for name in sorted(reading.asked) if name in last}

    def tell(self, name: str, method: str) -> None:
        """Call ``method()`` on actor ``name`` (if in the pool) without waiting."""
        with self._lock:
            actor = self._actors.get(name)
        if actor is not None:
            self._ray.tell(actor, method)

    def ask_all(self, method: str, *args: Any, timeout_s: float) -> dict[str, str]:
        """Call ``method(*args)`` on every actor; actor -> its answer, or why none."""
        with self._lock:
            actors = dict(self._actors)
        return self._ray.ask(actors, method, args, timeout_s)
