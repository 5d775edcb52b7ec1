"""The driver side of a pipeline: broker, checks, topics, Ray, worker actors, metrics.

Everything that can be checked before a worker starts is checked here, once, so a bad
model, an unreachable broker or a missing secret is one clear error and not N actor crashes.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from typing import Any

from streaminfer.errors import PipelineError
from streaminfer.operators.metrics import WorkerStats
from streaminfer.operators.model_runner import ModelInfo
from streaminfer.pipelines.common.embedded_broker import EmbeddedBroker
from streaminfer.pipelines.common.metrics_server import MetricsServer
from streaminfer.pipelines.common.topics import ensure_topics
from streaminfer.pipelines.online.checks import check_models
from streaminfer.pipelines.online.stats import PipelineStats
from streaminfer.pipelines.online.worker import (
    ModelSource,
    ModelStore,
    SourceWorker,
)
from streaminfer.pipelines.spec.kafka_settings import client_config
from streaminfer.pipelines.spec.schema import PipelineSpec

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 120.0
STATS_TIMEOUT_S = 5.0


class PipelineRuntime:
    """Starts and stops one pipeline's parts; see :class:`streaminfer.Pipeline` for the API."""

    def __init__(self, spec: PipelineSpec) -> None:
        self.spec = spec
        self.broker: EmbeddedBroker | None = None
        self.bootstrap_servers = spec.kafka.bootstrap_servers
        self.metrics: MetricsServer | None = None
        self.kafka_config: dict[str, Any] = {}
        self.source_partitions = 0
        self.autoscaler: Any = None
        self._workers: dict[str, Any] = {}  # actor name -> handle, in start order
        self._next_index = 0
        self._stores: list[Any] = []
        self._sources: dict[str, ModelSource] = {}
        self._served = False
        self._owns_ray = False
        self._last: dict[str, WorkerStats] = {}
        self._dead: set[str] = set()
        self._lock = threading.Lock()  # guards _workers (read by stats, changed by scaling)
        self._scaling = threading.Lock()  # one scale_to at a time (autoscaler thread, stop)

    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.stop(timeout_s=5.0)
            raise

    def _start(self) -> None:
        spec = self.spec
        # Load every model here: one that does not fit the config fails before any actor.
        models = check_models(spec)
        if spec.kafka.is_embedded:
            embedded = spec.kafka.embedded
            self.broker = EmbeddedBroker(embedded.host, embedded.port).start()
            self.bootstrap_servers = self.broker.bootstrap_servers
        config = self.kafka_config = client_config(spec.kafka, self.bootstrap_servers)
        source_partitions = spec.source.partitions
        sink_partitions = spec.sink.partitions or source_partitions
        wanted = {topic: source_partitions for topic in spec.source.topics}
        wanted[spec.sink.predictions_topic] = sink_partitions
        wanted[spec.sink.dead_letter_topic] = sink_partitions
        counts = ensure_topics(config, wanted, create_missing=spec.kafka.create_missing_topics)
        total = self.source_partitions = sum(counts[topic] for topic in spec.source.topics)
        if spec.workers.count > total:
            log.warning("workers.count=%d but the source has %d partitions: %d worker(s) will "
                        "idle", spec.workers.count, total, spec.workers.count - total)
        self._start_ray()
        self._start_models(models)
        if spec.metrics.enabled:
            self.metrics = MetricsServer(spec.metrics.host, spec.metrics.port)
            log.info("metrics on %s", self.metrics.url)
        self.scale_to(spec.workers.count)
        if spec.workers.autoscale.enabled:
            from streaminfer.pipelines.online.autoscaler import WorkerAutoscaler

            self.autoscaler = WorkerAutoscaler(self, spec.workers.autoscale)
            self.autoscaler.start()

    def _start_ray(self) -> None:
        import ray

        if ray.is_initialized():
            return
        kwargs: dict[str, Any] = {
            "namespace": self.spec.ray.namespace,
            "include_dashboard": False,
            "logging_level": logging.WARNING,
        }
        if self.spec.ray.address:
            kwargs["address"] = self.spec.ray.address
        elif not os.environ.get("RAY_ADDRESS"):  # else ray.init joins that cluster
            workers = self.spec.workers
            most = max(workers.count, workers.autoscale.max_workers
                       if workers.autoscale.enabled else 0)
            replicas = sum(m.serve.max_replicas * m.serve.num_cpus
                           for m in self.spec.model_specs if m.serving == "serve")
            needed = math.ceil(most * workers.num_cpus + replicas)
            kwargs["num_cpus"] = max(os.cpu_count() or 1, needed)
        try:
            ray.init(**kwargs)
        except ConnectionError as exc:
            raise PipelineError(
                f"cannot connect to Ray at {self.spec.ray.address} (ray.address): {exc}"
            ) from None
        self._owns_ray = True

    def _start_models(self, models: dict[str, tuple[bytes, ModelInfo]]) -> None:
        """One store actor per model (workers and replicas fetch the bytes from it), then
        the Serve deployments of the served models."""
        import ray

        spec = self.spec
        store_names = {}
        for model in spec.model_specs:
            name = model.model_name
            data, info = models[name]
            store_names[name] = f"{spec.name}-model-{name}"
            self._stores.append(ray.remote(ModelStore).options(
                name=store_names[name], namespace=spec.ray.namespace, num_cpus=0,
                max_restarts=0,
            ).remote(data))
            if model.serving == "serve":
                from streaminfer.pipelines.online.serving import DEPLOYMENT, app_name

                self._sources[name] = ModelSource(info, deployment=DEPLOYMENT,
                                                  app=app_name(spec, model))
            else:
                self._sources[name] = ModelSource(info, store=store_names[name],
                                                  namespace=spec.ray.namespace)
        if any(m.serving == "serve" for m in spec.model_specs):
            from streaminfer.pipelines.online import serving

            self._served = True
            serving.deploy(spec, store_names, {n: i for n, (_, i) in models.items()})

    @property
    def worker_count(self) -> int:
        """Workers running (or restarting): started ones not dead beyond their restarts."""
        with self._lock:
            return len(set(self._workers) - self._dead)

    @property
    def worker_names(self) -> list[str]:
        """Names of the worker actors (``ray.get_actor(name, namespace=...)`` finds them)."""
        return list(self._workers)

    def scale_to(self, count: int, timeout_s: float = 30.0) -> None:
        """Start or stop workers until ``count`` run. New workers join the group; the
        newest workers leave first, draining cleanly (finish, commit, leave the group)."""
        import ray

        with self._scaling:
            self._forget_dead()
            spec = self.spec
            started: dict[str, Any] = {}
            while self.worker_count + len(started) < count:
                name = f"{spec.name}-worker-{self._next_index}"
                self._next_index += 1
                started[name] = ray.remote(SourceWorker).options(
                    name=name, namespace=spec.ray.namespace, num_cpus=spec.workers.num_cpus,
                    num_gpus=spec.workers.num_gpus, max_restarts=spec.workers.max_restarts,
                    max_task_retries=0, max_concurrency=2,
                ).remote(spec, self.bootstrap_servers, name, self._sources)
            if started:
                errors = ray.get([actor.ready.remote() for actor in started.values()],
                                 timeout=READY_TIMEOUT_S)
                failed = [f"{n}: {e}" for n, e in zip(started, errors, strict=True) if e]
                if failed:
                    for actor in started.values():
                        ray.kill(actor, no_restart=True)
                    raise PipelineError("worker(s) could not start: " + "; ".join(failed))
                with self._lock:
                    self._workers.update(started)
            with self._lock:
                leaving = [self._workers.pop(name) for name in list(self._workers)[count:]]
            if leaving:
                self._retire(leaving, timeout_s)

    def _forget_dead(self) -> None:
        """Drop the workers Ray gave up on (dead beyond their restarts)."""
        import ray

        with self._lock:
            dead = [self._workers.pop(name) for name in list(self._workers)
                    if name in self._dead]
        for actor in dead:
            ray.kill(actor, no_restart=True)

    def _retire(self, actors: list[Any], timeout_s: float) -> None:
        """Drain these workers (finish, commit), then let them all leave the group at once,
        keeping their final counters. Draining first means no departing worker drags the
        others through a rebalance while they shut down."""
        import ray

        draining = [actor.drain.remote(timeout_s) for actor in actors]
        ray.wait(draining, num_returns=len(draining), timeout=timeout_s + 5)
        closing = [actor.close.remote() for actor in actors]
        ready, _ = ray.wait(closing, num_returns=len(closing), timeout=timeout_s)
        for ref in ready:
            try:
                stats = ray.get(ref)
            except ray.exceptions.RayError:
                continue
            if stats is not None:
                self._last[stats.worker_id] = stats
        for actor in actors:
            ray.kill(actor, no_restart=True)

    def stats(self) -> PipelineStats:
        """Ask every worker for its counters; a worker that does not answer keeps its last."""
        import ray

        with self._lock:
            workers = dict(self._workers)
        families = self.metrics is not None
        refs = {actor.stats.remote(families): name for name, actor in workers.items()}
        ready, _ = ray.wait(list(refs), num_returns=len(refs), timeout=STATS_TIMEOUT_S)
        alive = 0
        for ref in ready:
            try:
                stats = ray.get(ref)
            except ray.exceptions.ActorDiedError:
                self._dead.add(refs[ref])  # beyond its restarts
                continue
            except ray.exceptions.RayError:  # restarting, or slow
                continue
            if stats is not None:
                alive += 1
                self._last[stats.worker_id] = stats
                if self.metrics:
                    self.metrics.workers.update(stats.worker_id, stats.families)
        if self.metrics:
            self.metrics.workers_alive.set(alive)
        return PipelineStats(list(self._last.values()), workers_expected=len(workers),
                             workers_dead=len(self._dead & set(workers)))

    def wait_assigned(self, timeout_s: float, *, balanced: bool = False) -> bool:
        """Wait until the workers own every source partition (the group has settled).

        With ``balanced``, also until every worker that can own a partition does, and each
        partition is owned once: the rebalance after a change of worker count is over.
        """
        deadline = time.monotonic() + timeout_s
        pause = threading.Event()
        while not self._assigned(balanced):
            if time.monotonic() > deadline:
                return False
            pause.wait(0.1)  # a remote state to look at again; nothing local to await
        return True

    def _assigned(self, balanced: bool) -> bool:
        stats = self.stats()
        with self._lock:
            names = set(self._workers)
        owned = [w.assigned for w in stats.workers if w.worker_id in names]
        union = {tp for partitions in owned for tp in partitions}
        if len(union) < self.source_partitions:
            return False
        if not balanced:
            return True
        owners = sum(1 for partitions in owned if partitions)
        return (sum(map(len, owned)) == len(union)
                and owners == min(len(names), self.source_partitions))

    def stop(self, timeout_s: float = 30.0) -> PipelineStats:
        """Drain and stop the workers, then Serve's deployments, Ray (if started here) and
        the embedded broker."""
        import ray

        if self.autoscaler is not None:
            self.autoscaler.stop()
            self.autoscaler = None
        with self._scaling:
            with self._lock:
                workers, self._workers = list(self._workers.values()), {}
            if workers:
                self._retire(workers, timeout_s)
        final = PipelineStats(list(self._last.values()), workers_expected=len(workers))
        if self._served:
            from streaminfer.pipelines.online import serving

            serving.undeploy(self.spec)
            self._served = False
        for store in self._stores:
            ray.kill(store)
        self._stores = []
        if self.metrics:
            self.metrics.close()
            self.metrics = None
        if self._owns_ray:
            ray.shutdown()
            self._owns_ray = False
        if self.broker:
            self.broker.stop()
            self.broker = None
        return final
