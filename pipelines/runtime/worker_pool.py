"""The source worker actors of one pipeline: an :class:`ActorPool` of ``SourceWorker`` s
that scales one worker at a time, swaps models and knows when its group has settled.

Reading (:meth:`WorkerPool.read`, :meth:`WorkerPool.stats`, :meth:`WorkerPool.assigned`)
changes nothing; what a reading teaches (a worker's last counters, a worker dead beyond its
restarts, its metric families, a restart and the crash that caused it) is kept by
:meth:`WorkerPool.note`, which the driver's monitor calls. The last counters of a worker's
run that ended in a restart stay in the totals (``PipelineStats.earlier``).
"""

from __future__ import annotations

import threading
from functools import partial
from typing import Any

from streaminfer.pipelines.process.log_levels import actor_options
from streaminfer.pipelines.runtime.actor_pool import ActorPool, Actors, Reading, Series
from streaminfer.pipelines.runtime.crash_loop import Crash, ended_incarnations
from streaminfer.pipelines.runtime.model_store import ModelLocator
from streaminfer.pipelines.runtime.stats import PipelineStats
from streaminfer.pipelines.runtime.worker import SourceWorker
from streaminfer.pipelines.runtime.worker_metrics import WorkerStats
from streaminfer.pipelines.spec.schema import PipelineSpec
from streaminfer.waiting import wait_until


class WorkerPool:
    """Owns the worker actors (``<pipeline>-worker-<n>``); thread safe. ``series``: where
    their metric families are served (a retired worker's series end with it)."""

    def __init__(
        self, spec: PipelineSpec, bootstrap_servers: str, sources: dict[str, ModelLocator],
        source_partitions: int, *, series: Series | None = None, actors: Actors | None = None,
    ) -> None:
        self.spec = spec
        self.bootstrap_servers = bootstrap_servers
        self.sources = sources
        self.source_partitions = source_partitions
        self.actors: ActorPool[WorkerStats] = ActorPool("worker", series=series, actors=actors)
        self._next_index = 0
        self._scaling = threading.Lock()  # one scale_to or retire_all at a time
        self._earlier: list[WorkerStats] = []  # last counters of runs ended by a restart
        self._noting = threading.Lock()  # guards the one above

    @property
    def names(self) -> list[str]:
        """Names of the worker actors (``ray.get_actor(name, namespace=...)`` finds them)."""
        return self.actors.names

    @property
    def count(self) -> int:
        """Workers running (or restarting): started ones not dead beyond their restarts."""
        return self.actors.count

    def scale_to(self, count: int, timeout_s: float = 30.0) -> None:
        """Start or stop workers until ``count`` run. New workers join the group; the
        newest workers leave first, draining cleanly (finish, commit, leave the group)."""
        with self._scaling:
            self.actors.forget_dead()
            missing = count - len(self.actors.names)
            if missing > 0:
                names = [f"{self.spec.name}-worker-{self._next_index + i}"
                         for i in range(missing)]
                self._next_index += missing
                self.actors.start({name: partial(self._create, name) for name in names})
            self.actors.retire(self.actors.names[max(count, 0):], timeout_s)

    def retire_all(self, timeout_s: float) -> PipelineStats:
        """Drain and stop every worker; the final counters of every worker ever started."""
        with self._scaling:
            before = self.actors.last()
            stopped = self.actors.retire_all(timeout_s)
            last = self.actors.last()
            with self._noting:
                self._earlier += ended_incarnations(before, last)
                earlier = list(self._earlier)
            return PipelineStats(list(last.values()), workers_expected=stopped, earlier=earlier)

    def _create(self, name: str) -> Any:
        import ray

        spec = self.spec
        return ray.remote(SourceWorker).options(
            name=name, namespace=spec.ray.namespace, num_cpus=spec.workers.num_cpus,
            num_gpus=spec.workers.num_gpus, max_restarts=spec.workers.max_restarts,
            max_task_retries=0, max_concurrency=2, **actor_options(),
        ).remote(spec, self.bootstrap_servers, name, self.sources)

    def swap_model(self, name: str, timeout_s: float) -> dict[str, str]:
        """Tell every worker to swap model ``name`` to the version its store holds now
        (each at its next batch boundary); worker -> the version it serves, or why not.
        A worker restarting meanwhile loads the store's version on its own."""
        return self.actors.ask_all("swap_model", name, timeout_s, timeout_s=timeout_s)

    def set_candidate(self, name: str, timeout_s: float) -> dict[str, str]:
        """Tell every worker to run the candidate model ``name``'s store holds now (or
        none); worker -> what it runs, or why not."""
        return self.actors.ask_all("set_candidate", name, timeout_s, timeout_s=timeout_s)

    def read(self, *, families: bool = False) -> Reading[WorkerStats]:
        """Ask every worker for its counters (and, with ``families``, its Prometheus metric
        families). Changes nothing."""
        return self.actors.read(families=families)

    def note(self, reading: Reading[WorkerStats]) -> list[Crash]:
        """Keep what a reading taught: each answer as the worker's last counters (a
        restarted worker's earlier run's last ones kept apart), the workers that died beyond
        their restarts (the next :meth:`scale_to` drops them), and the families of the
        workers still in the pool. Returns the crashes not seen before; a worker that said
        why it crashed is told it was heard (its process ends then)."""
        with self._noting:
            self._earlier += ended_incarnations(self.actors.last(), reading.answered)
            return self.actors.note(reading)

    def stats(self, reading: Reading[WorkerStats] | None = None) -> PipelineStats:
        """The pipeline's counters: fresh where a worker answered, else its last ones."""
        reading = reading or self.read()
        with self._noting:
            last = self.actors.last()
            earlier = self._earlier + ended_incarnations(last, reading.answered)
        dead = (self.actors.dead | reading.died) & reading.asked
        last.update(reading.answered)
        return PipelineStats(list(last.values()), workers_expected=len(reading.asked),
                             workers_dead=len(dead), earlier=earlier)

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
