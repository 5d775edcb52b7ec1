"""The driver of an online pipeline: sets up and tears down what the workers need.

In order: the models are checked, the embedded broker started (if asked for), the topics
made sure of, Ray started (if not running), the model stores and Serve applications started,
the metrics endpoint opened; then the :class:`WorkerPool` starts the workers, a
:class:`PoolMonitor` watches them and, if configured, the autoscaler scales them. Everything
that can be checked before a worker starts is checked here, once, so a bad model, an
unreachable broker or a missing secret is one clear error and not N actor crashes.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast

from streaminfer.errors import PipelineError
from streaminfer.operators.model_runner import ModelInfo
from streaminfer.pipelines.feedback.service import FeedbackService
from streaminfer.pipelines.kafka.alert_publisher import AlertPublisher
from streaminfer.pipelines.kafka.embedded_broker import EmbeddedBroker
from streaminfer.pipelines.kafka.topics import ensure_topics
from streaminfer.pipelines.lifecycle.resolve import resolve_registry_models
from streaminfer.pipelines.lifecycle.versions import Version
from streaminfer.pipelines.online.autoscaler import WorkerAutoscaler
from streaminfer.pipelines.online.checks import check_models
from streaminfer.pipelines.online.drift_monitor import DriftMonitor, load_profiles
from streaminfer.pipelines.online.pool_monitor import PoolMonitor
from streaminfer.pipelines.online.running_models import LiveModels
from streaminfer.pipelines.online.serving_metrics import ServingCollector
from streaminfer.pipelines.rollout.actions import ActionLog
from streaminfer.pipelines.rollout.follower import AliasFollower, start_follower
from streaminfer.pipelines.rollout.status import ModelServing, models_serving
from streaminfer.pipelines.runtime.driver_thread import DriverThread, ThreadError
from streaminfer.pipelines.runtime.metrics_server import MetricsServer
from streaminfer.pipelines.runtime.model_store import ModelLocator, ModelStore
from streaminfer.pipelines.runtime.ray_setup import start_ray
from streaminfer.pipelines.runtime.stats import PipelineStats
from streaminfer.pipelines.runtime.worker_pool import WorkerPool
from streaminfer.pipelines.spec.kafka_settings import client_config
from streaminfer.pipelines.spec.schema import PipelineSpec

if TYPE_CHECKING:
    from ray.actor import ActorHandle

    from streaminfer.pipelines.online.retrain_wiring import TopicEnds
    from streaminfer.pipelines.rollout.auto_retrain import AutoRetrain

log = logging.getLogger(__name__)


class PipelineRuntime:
    """Starts and stops one pipeline's parts; see :class:`streaminfer.Pipeline` for the API."""

    def __init__(self, spec: PipelineSpec) -> None:
        self.spec = spec
        self.broker: EmbeddedBroker | None = None
        self.bootstrap_servers = spec.kafka.bootstrap_servers
        self.metrics: MetricsServer | None = None
        self.kafka_config: dict[str, Any] = {}
        self.source_partitions = 0
        self.autoscaler: WorkerAutoscaler | None = None
        self.pool: WorkerPool | None = None
        self.feedback: FeedbackService | None = None
        self._monitor: PoolMonitor | None = None
        #: Why the pipeline failed while running (workers crashing the same way again and
        #: again); :meth:`stats` raises it.
        self.failure: PipelineError | None = None
        self.drift: DriftMonitor | None = None
        self.follower: AliasFollower | None = None
        self.actions = ActionLog(None)  # rollout actions; published once Kafka is known
        self.retrainer: tuple[AutoRetrain, TopicEnds] | None = None
        self.served: dict[str, str] = {}  # model -> the version it started with
        self.stores: dict[str, ActorHandle[ModelStore]] = {}  # by model name
        self._served = False
        self._owns_ray = False
        self._drained: PipelineStats | None = None  # the final counters, once drained

    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.stop(timeout_s=5.0)
            raise

    def _start(self) -> None:
        # models:/NAME@ALIAS paths become checked local files, resolved once, here.
        declared = self.spec
        self.spec = spec = resolve_registry_models(declared)
        follows = declared.rollout.follow_aliases and any(
            m.registry_ref is not None and m.registry_ref.alias for m in declared.model_specs)
        retrains = declared.retrain is not None and declared.retrain.when.enabled
        # Load every model here: one that does not fit the config fails before any actor.
        models = check_models(spec)
        if spec.kafka.is_embedded:
            embedded = spec.kafka.embedded
            self.broker = EmbeddedBroker(embedded.host, embedded.port).start()
            self.bootstrap_servers = self.broker.bootstrap_servers
        self.kafka_config = client_config(spec.kafka, self.bootstrap_servers)
        self.source_partitions = self._ensure_topics(shadow=follows,
                                                     alerts=follows or retrains)
        self._owns_ray = start_ray(spec)
        sources = self._start_models(models)
        self.served = {name: source.info.version for name, source in sources.items()}
        if spec.metrics.enabled:
            self.metrics = MetricsServer(spec.metrics.host, spec.metrics.port)
            log.info("metrics on %s", self.metrics.url)
        if follows or retrains:
            self.actions = ActionLog(
                AlertPublisher(self.kafka_config, spec.rollout.alerts_topic),
                registry=self.metrics.registry if self.metrics else None)
        self.drift = self._start_drift(sources)
        # Made here, before any actor starts, so that feedback topics that do not fit (a
        # partition count) are refused at once, not after the workers' start.
        feedback = (FeedbackService(spec, self.bootstrap_servers, self.kafka_config,
                                    self.metrics, on_failure=self._failed)
                    if spec.feedback is not None and spec.feedback.joiners.count > 0 else None)
        self.pool = WorkerPool(spec, self.bootstrap_servers, sources, self.source_partitions,
                               series=self.metrics.workers if self.metrics else None)
        self.pool.scale_to(spec.workers.count)
        self._monitor = PoolMonitor(self.pool, self.metrics, drift=self.drift,
                                    crash_loop=spec.workers.crash_loop,
                                    on_failure=self._failed).start()
        if feedback is not None:
            self.feedback = feedback.start()
        self._start_rollout(declared, sources, self.pool, retrains=retrains)
        if self.metrics is not None:  # what each model serves, for `streaminfer status`
            self.metrics.registry.register(ServingCollector(self.models))
            self.metrics.threads.watch(self.thread_errors)
        if spec.workers.autoscale.enabled:
            self.autoscaler = WorkerAutoscaler(self, spec.workers.autoscale)
            self.autoscaler.start()

    def _start_rollout(self, declared: PipelineSpec, sources: dict[str, ModelLocator],
                       pool: WorkerPool, *, retrains: bool) -> None:
        """A models:/NAME@ALIAS model follows its alias (hot swaps, shadow, canary, the
        rollback and promote rules); ``retrains``: the automatic retraining thread
        (docs/rollout.md)."""
        feedback = self.feedback
        self.follower = start_follower(
            declared, self.spec, {n: s.info for n, s in sources.items()},
            LiveModels(self.stores, pool, drift=self.drift, features=self.spec.source.features),
            actions=self.actions,
            live_metrics=(lambda: feedback.summary().live) if feedback else None,
            on_shadow=feedback.follow_shadow if feedback else None)
        if retrains:
            from streaminfer.pipelines.online.retrain_wiring import start_auto_retrain

            self.retrainer = start_auto_retrain(
                declared, self.bootstrap_servers, self.kafka_config, self.served,
                self.actions, follower=self.follower, drift=self.drift, feedback=feedback)

    def _ensure_topics(self, *, shadow: bool, alerts: bool) -> int:
        """Make sure of the source and sink topics (``shadow``: and the shadow topic,
        ``alerts``: and the rollout's alerts topic); the source's partition count."""
        spec = self.spec
        source_partitions = spec.source.partitions
        sink_partitions = spec.sink.partitions or source_partitions
        wanted = {topic: source_partitions for topic in spec.source.topics}
        wanted[spec.sink.predictions_topic] = sink_partitions
        wanted[spec.sink.dead_letter_topic] = sink_partitions
        if spec.drift is not None and spec.drift.enabled:
            wanted[spec.drift.alerts_topic] = 1
        if shadow:
            wanted[spec.rollout.shadow_topic_for(spec.sink.predictions_topic)] = sink_partitions
        if alerts:
            wanted[spec.rollout.alerts_topic] = 1
        counts = ensure_topics(self.kafka_config, wanted,
                               create_missing=spec.kafka.create_missing_topics)
        total = sum(counts[topic] for topic in spec.source.topics)
        if spec.workers.count > total:
            log.warning("workers.count=%d but the source has %d partitions: %d worker(s) will "
                        "idle", spec.workers.count, total, spec.workers.count - total)
        return total

    def _start_models(
        self, models: dict[str, tuple[bytes, ModelInfo]]
    ) -> dict[str, ModelLocator]:
        """One store actor per model (workers and replicas fetch the bytes from it), then
        the Serve deployments of the served models. How workers reach each model."""
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        spec = self.spec
        store_names: dict[str, str] = {}
        sources: dict[str, ModelLocator] = {}
        # The stores live on the driver's node: a store is not restarted (a restart would
        # hold the version the pipeline started with, not the one promoted since), so on a
        # worker node that died it would be gone, and every worker Ray restarts after it
        # would die loading its model. Where the driver's node goes, the pipeline goes too.
        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(),
                                              soft=False)
        for model in spec.model_specs:
            name = model.model_name
            data, info = models[name]
            store_names[name] = f"{spec.name}-model-{name}"
            self.stores[name] = cast("ActorHandle[ModelStore]", ray.remote(ModelStore).options(
                name=store_names[name], namespace=spec.ray.namespace, num_cpus=0,
                max_restarts=0, scheduling_strategy=here,
            ).remote(Version(info.version, info.sha256, data)))
            if model.serving == "serve":
                from streaminfer.pipelines.runtime.serving import DEPLOYMENT, app_name

                sources[name] = ModelLocator(info, store=store_names[name],
                                            namespace=spec.ray.namespace,
                                            deployment=DEPLOYMENT, app=app_name(spec, model))
            else:
                sources[name] = ModelLocator(info, store=store_names[name],
                                            namespace=spec.ray.namespace)
        if any(m.serving == "serve" for m in spec.model_specs):
            from streaminfer.pipelines.runtime import serving

            self._served = True
            serving.deploy(spec, store_names, {n: i for n, (_, i) in models.items()})
        return sources

    def _start_drift(self, sources: dict[str, ModelLocator]) -> DriftMonitor | None:
        """Give each model source its training profile; the driver's drift monitor."""
        drift = self.spec.drift
        if drift is None or not drift.enabled:
            return None
        profiles = load_profiles(self.spec, {n: s.info for n, s in sources.items()})
        if not profiles:
            return None
        for name, profile in profiles.items():
            sources[name] = replace(sources[name], profile=profile)
        return DriftMonitor(drift, profiles, self.kafka_config,
                            self.metrics.registry if self.metrics else None)

    def models(self) -> list[ModelServing]:
        """Per model: the version serving now, the alias it follows, its candidate and its
        automatic retraining."""
        pool, follower = self.pool, self.follower
        if pool is None:
            return []
        return models_serving({name: source.info.version for name, source in pool.sources.items()},
                              follower.following if follower is not None else {},
                              self.retrainer[0] if self.retrainer else None)

    @property
    def last_crash(self) -> str | None:
        """Why a worker crashed last (``None``: none did)."""
        crash = self._monitor.last_crash if self._monitor is not None else None
        return crash.reason if crash is not None else None

    def _failed(self, failure: PipelineError) -> None:
        self.failure = self.failure or failure

    def _running(self) -> WorkerPool:
        if self.pool is None:
            raise PipelineError(f"pipeline {self.spec.name} is not running")
        return self.pool

    @property
    def worker_count(self) -> int:
        """Workers running (or restarting): started ones not dead beyond their restarts."""
        return self.pool.count if self.pool else 0

    @property
    def worker_names(self) -> list[str]:
        """Names of the worker actors (``ray.get_actor(name, namespace=...)`` finds them)."""
        return self.pool.names if self.pool else []

    def scale_to(self, count: int, timeout_s: float = 30.0) -> None:
        """Start or stop workers until ``count`` run (see :meth:`WorkerPool.scale_to`)."""
        self._running().scale_to(count, timeout_s)

    def stats(self) -> PipelineStats:
        """Ask every worker for its counters; a worker that does not answer counts with its
        last ones; with the driver threads' last errors. Changes nothing. Raises
        :attr:`failure` once the pipeline failed (its workers crash again and again)."""
        if self.failure is not None:
            raise self.failure
        stats = self._running().stats()
        stats.thread_errors = self.thread_errors()
        return stats

    def driver_threads(self) -> list[DriverThread]:
        """The driver's threads running now (pipelines/runtime/driver_thread.py)."""
        retrainer = self.retrainer[0] if self.retrainer is not None else None
        return [part.thread for part in (self._monitor, self.autoscaler, self.follower,
                                         retrainer, self.feedback) if part is not None]

    def thread_errors(self) -> list[ThreadError]:
        """The last error of each driver thread that has had one."""
        return [t.last_error for t in self.driver_threads() if t.last_error is not None]

    def wait_assigned(self, timeout_s: float, *, balanced: bool = False) -> bool:
        """Wait until the workers own every source partition (see :meth:`WorkerPool.assigned`)."""
        return self._running().wait_assigned(timeout_s, balanced=balanced)

    def drain(self, timeout_s: float = 30.0) -> PipelineStats:
        """Stop the driver's threads, drain and stop the workers and joiners; Serve, Ray and
        the embedded broker stay up until :meth:`stop`. The final counters (again on a
        second call)."""
        if self._drained is not None:
            return self._drained
        if self.retrainer is not None:
            thread, ends = self.retrainer
            thread.stop()
            ends.close()
            self.retrainer = None
        if self.follower is not None:
            self.follower.stop()
            self.follower = None
        self.actions.close()
        if self.autoscaler is not None:
            self.autoscaler.stop()
            self.autoscaler = None
        if self._monitor is not None:
            self._monitor.stop()
            self._monitor = None
        if self.drift is not None:
            self.drift.close()
            self.drift = None
        self._drained = self.pool.retire_all(timeout_s) if self.pool else PipelineStats()
        if self.feedback is not None:
            self.feedback.stop(timeout_s)
            self.feedback = None
        return self._drained

    def stop(self, timeout_s: float = 30.0) -> PipelineStats:
        """:meth:`drain`, then stop Serve's deployments, Ray (if started here) and the
        embedded broker."""
        import ray

        final = self.drain(timeout_s)
        if self._served:
            from streaminfer.pipelines.runtime import serving

            serving.undeploy(self.spec)
            self._served = False
        for store in self.stores.values():
            ray.kill(store)
        self.stores = {}
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
