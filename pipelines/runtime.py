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
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from streaminfer.errors import PipelineError
from streaminfer.operators.codecs import codec_for
from streaminfer.operators.metrics import WorkerStats, quantile
from streaminfer.operators.model_runner import read_model_file
from streaminfer.pipelines.embedded_broker import EmbeddedBroker
from streaminfer.pipelines.kafka_settings import client_config
from streaminfer.pipelines.metrics_server import MetricsServer
from streaminfer.pipelines.scoring import BatchScorer
from streaminfer.pipelines.spec import PipelineSpec
from streaminfer.pipelines.topics import ensure_topics
from streaminfer.pipelines.worker import ModelStore, SourceWorker, load_model

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 120.0
STATS_TIMEOUT_S = 5.0


@dataclass
class PipelineStats:
    """The pipeline's counters, summed over the workers that answered."""

    workers: list[WorkerStats] = field(default_factory=list)
    workers_expected: int = 0
    workers_dead: int = 0

    @property
    def events_in(self) -> int:
        return sum(w.events_in for w in self.workers)

    @property
    def predictions(self) -> int:
        return sum(w.predictions for w in self.workers)

    @property
    def dead_letters(self) -> int:
        return sum(w.dead_letter_total for w in self.workers)

    @property
    def batches(self) -> int:
        return sum(w.batches for w in self.workers)

    @property
    def model_batch_failures(self) -> int:
        return sum(w.model_batch_failures for w in self.workers)

    @property
    def dead_letters_by_reason(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for w in self.workers:
            for reason, count in w.dead_letters.items():
                out[reason] = out.get(reason, 0) + count
        return out

    @property
    def assigned(self) -> set[str]:
        """Partitions (``topic/partition``) some worker owns now."""
        return {tp for w in self.workers for tp in w.assigned}

    @property
    def lag(self) -> int:
        return sum(sum(w.lag.values()) for w in self.workers)

    def latency_ms(self, q: float) -> float | None:
        """A quantile of the workers' recent end-to-end latencies."""
        return quantile([v for w in self.workers for v in w.recent_latency_ms], q)


class PipelineRuntime:
    """Starts and stops one pipeline's parts; see :class:`streaminfer.Pipeline` for the API."""

    def __init__(self, spec: PipelineSpec) -> None:
        self.spec = spec
        self.broker: EmbeddedBroker | None = None
        self.bootstrap_servers = spec.kafka.bootstrap_servers
        self.metrics: MetricsServer | None = None
        self._actors: list[Any] = []
        self._owns_ray = False
        self._model_store: Any = None
        self._last: dict[str, WorkerStats] = {}
        self._dead: set[int] = set()
        self.source_partitions = 0

    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.stop(timeout_s=5.0)
            raise

    def _start(self) -> None:
        spec = self.spec
        model_bytes = read_model_file(spec.model.path, spec.model.sha256)
        # Load once here: a model that does not fit the config fails before any actor starts.
        BatchScorer(load_model(spec, model_bytes), spec.source, codec_for(spec.source.codec))
        if spec.kafka.is_embedded:
            embedded = spec.kafka.embedded
            self.broker = EmbeddedBroker(embedded.host, embedded.port).start()
            self.bootstrap_servers = self.broker.bootstrap_servers
        config = client_config(spec.kafka, self.bootstrap_servers)
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
        self._spawn_workers(model_bytes)
        if spec.metrics.enabled:
            self.metrics = MetricsServer(spec.metrics.host, spec.metrics.port)
            log.info("metrics on %s", self.metrics.url)

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
            needed = math.ceil(self.spec.workers.count * self.spec.workers.num_cpus)
            kwargs["num_cpus"] = max(os.cpu_count() or 1, needed)
        try:
            ray.init(**kwargs)
        except ConnectionError as exc:
            raise PipelineError(
                f"cannot connect to Ray at {self.spec.ray.address} (ray.address): {exc}"
            ) from None
        self._owns_ray = True

    def _spawn_workers(self, model_bytes: bytes) -> None:
        import ray

        spec = self.spec
        store_name = f"{spec.name}-model"
        self._model_store = ray.remote(ModelStore).options(
            name=store_name, namespace=spec.ray.namespace, num_cpus=0, max_restarts=0,
        ).remote(model_bytes)
        remote = ray.remote(SourceWorker)
        for index in range(spec.workers.count):
            worker_id = f"{spec.name}-worker-{index}"
            actor = remote.options(
                name=worker_id, namespace=spec.ray.namespace, num_cpus=spec.workers.num_cpus,
                num_gpus=spec.workers.num_gpus,
                max_restarts=spec.workers.max_restarts, max_task_retries=0,
                max_concurrency=2,
            ).remote(spec, self.bootstrap_servers, store_name, worker_id)
            self._actors.append(actor)
        errors = ray.get([actor.ready.remote() for actor in self._actors],
                         timeout=READY_TIMEOUT_S)
        failed = [f"{spec.name}-worker-{i}: {e}" for i, e in enumerate(errors) if e]
        if failed:
            raise PipelineError("worker(s) could not start: " + "; ".join(failed))

    @property
    def worker_names(self) -> list[str]:
        """Names of the worker actors (``ray.get_actor(name, namespace=...)`` finds them)."""
        return [f"{self.spec.name}-worker-{i}" for i in range(len(self._actors))]

    def stats(self) -> PipelineStats:
        """Ask every worker for its counters; a worker that does not answer keeps its last."""
        import ray

        families = self.metrics is not None
        refs = {actor.stats.remote(families): i for i, actor in enumerate(self._actors)}
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
        return PipelineStats(list(self._last.values()), workers_expected=len(self._actors),
                             workers_dead=len(self._dead))

    def wait_assigned(self, timeout_s: float) -> bool:
        """Wait until the workers own every source partition (the group has settled)."""
        deadline = time.monotonic() + timeout_s
        pause = threading.Event()
        while len(self.stats().assigned) < self.source_partitions:
            if time.monotonic() > deadline:
                return False
            pause.wait(0.1)  # a remote state to look at again; nothing local to await
        return True

    def stop(self, timeout_s: float = 30.0) -> PipelineStats:
        """Drain and stop the workers, then Ray (if started here) and the embedded broker."""
        import ray

        if self._actors:
            refs = [actor.stop.remote(timeout_s) for actor in self._actors]
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=timeout_s + 5)
            for ref in ready:
                try:
                    stats = ray.get(ref)
                except ray.exceptions.RayError:
                    continue
                if stats is not None:
                    self._last[stats.worker_id] = stats
            for actor in self._actors:
                ray.kill(actor, no_restart=True)
        final = PipelineStats(list(self._last.values()), workers_expected=len(self._actors))
        self._actors = []
        if self._model_store is not None:
            ray.kill(self._model_store)
            self._model_store = None
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


def check(spec: PipelineSpec) -> str:
    """Everything ``validate-config`` can check without starting anything: the model file,
    its sha256, that it loads and fits the feature mapping. Returns a summary line."""
    model_bytes = read_model_file(spec.model.path, spec.model.sha256)
    model = load_model(spec, model_bytes)
    BatchScorer(model, spec.source, codec_for(spec.source.codec))
    info = model.info
    return (f"model {info.name} v{info.version}: input {info.input_name} "
            f"[batch, {info.input_width or '?'}] {np.dtype(info.input_dtype).name}, outputs "
            f"{', '.join(info.outputs.values())}; providers {', '.join(info.providers)}")
