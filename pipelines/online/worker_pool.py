"""The source worker actors of one pipeline, behind one lock: start, scale, retire, read.

Reading (:meth:`WorkerPool.read`, :meth:`WorkerPool.stats`, :meth:`WorkerPool.assigned`)
changes nothing; what a reading teaches (a worker's last counters, a worker dead beyond its
restarts) is kept by :meth:`WorkerPool.note`, which the driver's monitor calls.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

from streaminfer.errors import PipelineError
from streaminfer.operators.metrics import WorkerStats
from streaminfer.pipelines.common.loop_actor import drain_then_close
from streaminfer.pipelines.online.model_store import ModelSource
from streaminfer.pipelines.online.stats import PipelineStats
from streaminfer.pipelines.online.worker import SourceWorker
from streaminfer.pipelines.spec.schema import PipelineSpec
from streaminfer.waiting import wait_until

if TYPE_CHECKING:
    from ray.actor import ActorHandle

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 120.0
STATS_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Reading:
    """What the workers answered to one round of ``stats`` calls."""

    answered: dict[str, WorkerStats] = field(default_factory=dict)
    died: frozenset[str] = frozenset()  # dead beyond their restarts
    asked: frozenset[str] = frozenset()


class WorkerPool:
    """Owns the worker actors (``<pipeline>-worker-<n>``); thread safe."""

    def __init__(
        self, spec: PipelineSpec, bootstrap_servers: str, sources: dict[str, ModelSource],
        source_partitions: int,
    ) -> None:
        self.spec = spec
        self.bootstrap_servers = bootstrap_servers
        self.sources = sources
        self.source_partitions = source_partitions
        # actor name -> handle, in start order
        self._workers: dict[str, ActorHandle[SourceWorker]] = {}
        self._next_index = 0
        self._last: dict[str, WorkerStats] = {}
        self._dead: set[str] = set()
        self._lock = threading.Lock()  # guards the fields above
        self._scaling = threading.Lock()  # one scale_to or retire at a time

    @property
    def names(self) -> list[str]:
        """Names of the worker actors (``ray.get_actor(name, namespace=...)`` finds them)."""
        with self._lock:
            return list(self._workers)

    @property
    def count(self) -> int:
        """Workers running (or restarting): started ones not dead beyond their restarts."""
        with self._lock:
            return len(set(self._workers) - self._dead)

    def scale_to(self, count: int, timeout_s: float = 30.0) -> None:
        """Start or stop workers until ``count`` run. New workers join the group; the
        newest workers leave first, draining cleanly (finish, commit, leave the group)."""
        with self._scaling:
            self._forget_dead()
            with self._lock:
                missing = count - len(self._workers)
            if missing > 0:
                started = self._start(missing)
                with self._lock:
                    self._workers.update(started)
            with self._lock:
                leaving = [self._workers.pop(name) for name in list(self._workers)[count:]]
            if leaving:
                self._retire(leaving, timeout_s)

    def retire_all(self, timeout_s: float) -> PipelineStats:
        """Drain and stop every worker; the final counters of every worker ever started."""
        with self._scaling:
            with self._lock:
                workers, self._workers = list(self._workers.values()), {}
            if workers:
                self._retire(workers, timeout_s)
            with self._lock:
                return PipelineStats(list(self._last.values()), workers_expected=len(workers))

    def _start(self, how_many: int) -> dict[str, ActorHandle[SourceWorker]]:
        """Start workers and wait until each runs; none is kept if one cannot start."""
        import ray

        spec = self.spec
        started: dict[str, ActorHandle[SourceWorker]] = {}
        for _ in range(how_many):
            name = f"{spec.name}-worker-{self._next_index}"
            self._next_index += 1
            started[name] = cast("ActorHandle[SourceWorker]", ray.remote(SourceWorker).options(
                name=name, namespace=spec.ray.namespace, num_cpus=spec.workers.num_cpus,
                num_gpus=spec.workers.num_gpus, max_restarts=spec.workers.max_restarts,
                max_task_retries=0, max_concurrency=2,
            ).remote(spec, self.bootstrap_servers, name, self.sources))
        errors = ray.get([actor.ready.remote() for actor in started.values()],
                         timeout=READY_TIMEOUT_S)
        failed = [f"{n}: {e}" for n, e in zip(started, errors, strict=True) if e]
        if failed:
            for actor in started.values():
                ray.kill(actor, no_restart=True)
            raise PipelineError("worker(s) could not start: " + "; ".join(failed))
        return started

    def _forget_dead(self) -> None:
        """Drop the workers Ray gave up on (dead beyond their restarts)."""
        import ray

        with self._lock:
            dead = [self._workers.pop(name) for name in list(self._workers)
                    if name in self._dead]
        for actor in dead:
            ray.kill(actor, no_restart=True)

    def _retire(self, actors: list[ActorHandle[SourceWorker]], timeout_s: float) -> None:
        """Drain these workers, then let them all leave the group at once
        (:func:`drain_then_close`), keeping their final counters."""
        for stats in drain_then_close(actors, timeout_s):
            with self._lock:
                self._last[stats.worker_id] = stats

    def swap_model(self, name: str, timeout_s: float) -> dict[str, str]:
        """Tell every worker to swap model ``name`` to the version its store holds now
        (each at its next batch boundary); worker -> the version it serves, or why not.
        A worker restarting meanwhile loads the store's version on its own."""
        return self._ask_all("swap_model", name, timeout_s)

    def set_candidate(self, name: str, timeout_s: float) -> dict[str, str]:
        """Tell every worker to run the candidate model ``name``'s store holds now (or
        none); worker -> what it runs, or why not."""
        return self._ask_all("set_candidate", name, timeout_s)

    def _ask_all(self, method: str, name: str, timeout_s: float) -> dict[str, str]:
        import ray

        with self._lock:
            workers = dict(self._workers)
        refs = {name_: getattr(actor, method).remote(name, timeout_s)
                for name_, actor in workers.items()}
        ready, _ = ray.wait(list(refs.values()), num_returns=len(refs), timeout=timeout_s + 5)
        answers: dict[str, str] = {}
        for worker, ref in refs.items():
            if ref not in ready:
                answers[worker] = "no answer"
                continue
            try:
                answers[worker] = str(ray.get(ref))
            except ray.exceptions.RayError as exc:
                answers[worker] = f"failed: {str(exc).strip().splitlines()[-1]}"
        return answers

    def read(self, *, families: bool = False) -> Reading:
        """Ask every worker for its counters (and, with ``families``, its Prometheus metric
        families). Changes nothing."""
        import ray

        with self._lock:
            workers = dict(self._workers)
        refs = {actor.stats.remote(families): name for name, actor in workers.items()}
        ready, _ = ray.wait(list(refs), num_returns=len(refs), timeout=STATS_TIMEOUT_S)
        answered: dict[str, WorkerStats] = {}
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
        return Reading(answered, frozenset(died), frozenset(workers))

    def note(self, reading: Reading) -> None:
        """Keep what a reading taught: each answer as the worker's last counters, and the
        workers that died beyond their restarts (the next :meth:`scale_to` drops them)."""
        with self._lock:
            self._last.update((s.worker_id, s) for s in reading.answered.values())
            self._dead |= reading.died

    def stats(self, reading: Reading | None = None) -> PipelineStats:
        """The pipeline's counters: fresh where a worker answered, else its last ones."""
        reading = reading or self.read()
        with self._lock:
            last = dict(self._last)
            dead = (self._dead | reading.died) & reading.asked
        last.update((s.worker_id, s) for s in reading.answered.values())
        return PipelineStats(list(last.values()), workers_expected=len(reading.asked),
                             workers_dead=len(dead))

    def assigned(self, *, balanced: bool = False) -> bool:
        """Whether the workers own every source partition; with ``balanced``, also each
        partition once and every worker that can own one does (a rebalance is over)."""
        reading = self.read()
        owned = [w.assigned for w in self.stats(reading).workers if w.worker_id in reading.asked]
        union = {tp for partitions in owned for tp in partitions}
        if len(union) < self.source_partitions:
            return False
        if not balanced:
            return True
        owners = sum(1 for partitions in owned if partitions)
        return (sum(map(len, owned)) == len(union)
                and owners == min(len(reading.asked), self.source_partitions))

    def wait_assigned(self, timeout_s: float, *, balanced: bool = False) -> bool:
        """Wait until :meth:`assigned` (the group has settled)."""
        return wait_until(lambda: self.assigned(balanced=balanced), timeout_s)
