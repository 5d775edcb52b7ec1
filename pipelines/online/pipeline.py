"""A scoring pipeline from one YAML: start, watch, stop; the public :class:`Pipeline`."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from streaminfer.errors import PipelineError
from streaminfer.pipelines.online.driver import PipelineRuntime
from streaminfer.pipelines.online.stall import StallWatch, stall_message
from streaminfer.pipelines.process.stop_signals import StopSignals
from streaminfer.pipelines.rollout.follower import AliasFollower
from streaminfer.pipelines.runtime.stats import PipelineStats
from streaminfer.pipelines.spec.loader import load_spec
from streaminfer.pipelines.spec.schema import PipelineSpec

if TYPE_CHECKING:
    from streaminfer.pipelines.feedback.live_metrics import FeedbackSummary
    from streaminfer.pipelines.online.autoscaler import WorkerAutoscaler
    from streaminfer.pipelines.online.drift_watch import DriftState
    from streaminfer.pipelines.rollout.status import ModelServing

log = logging.getLogger(__name__)


class Pipeline:
    """A scoring pipeline described by one YAML file.

    >>> Pipeline.from_yaml("configs/demo.yaml").run()     # doctest: +SKIP

    or, to drive it from code (tests, notebooks)::

        with Pipeline.from_yaml("configs/demo.yaml") as pipeline:   # started
            ...                                                     # produce, consume
        # stopped: open batches finished, offsets committed, group left
    """

    def __init__(self, spec: PipelineSpec) -> None:
        self.spec = spec
        self._runtime: PipelineRuntime | None = None

    @classmethod
    def from_yaml(cls, path: str | Path) -> Pipeline:
        """Load and validate ``path`` (raises :class:`~streaminfer.ConfigError`)."""
        return cls(load_spec(path))

    @property
    def bootstrap_servers(self) -> str:
        """The Kafka it talks to (the embedded broker's address once started)."""
        if self._runtime is not None:
            return self._runtime.bootstrap_servers
        return self.spec.kafka.bootstrap_servers

    @property
    def broker_pid(self) -> int | None:
        """Process id of the embedded broker this pipeline started (``None`` otherwise)."""
        broker = self._runtime.broker if self._runtime else None
        return broker.pid if broker else None

    @property
    def metrics_url(self) -> str | None:
        metrics = self._runtime.metrics if self._runtime else None
        return metrics.url if metrics else None

    @property
    def autoscaler(self) -> WorkerAutoscaler | None:
        """The lag-driven worker autoscaler, when ``workers.autoscale.enabled``."""
        return self._runtime.autoscaler if self._runtime else None

    @property
    def worker_names(self) -> list[str]:
        """Ray actor names of the workers (namespace ``spec.ray.namespace``)."""
        return self._runtime.worker_names if self._runtime else []

    @property
    def follower(self) -> AliasFollower | None:
        """The thread that follows registry aliases (hot swaps), while running with one."""
        return self._runtime.follower if self._runtime else None

    def start(self) -> Pipeline:
        """Start broker (if embedded), Ray (if not running) and the workers; return at once."""
        if self._runtime is not None:
            raise PipelineError(f"pipeline {self.spec.name} is already running")
        runtime = PipelineRuntime(self.spec)
        runtime.start()
        self._runtime = runtime
        return self

    def wait_ready(self, timeout_s: float = 60.0, *, balanced: bool = False) -> Pipeline:
        """Block until the workers have joined the group and own every source partition.

        With ``balanced``, also until the group's rebalance is over: each partition owned
        once, and every worker that can own one does. Events produced earlier are not lost
        (they wait in the topic); this is for callers that measure latency from the first
        event, such as the demo and the benchmarks, and for tests of partition shares.
        """
        if self._runtime is None:
            raise PipelineError(f"pipeline {self.spec.name} is not running")
        if not self._runtime.wait_assigned(timeout_s, balanced=balanced):
            what = "balance the source partitions" if balanced else "take all source partitions"
            raise PipelineError(f"the workers did not {what} within {timeout_s:.0f}s")
        return self

    def stats(self) -> PipelineStats:
        if self._runtime is None:
            raise PipelineError(f"pipeline {self.spec.name} is not running")
        return self._runtime.stats()

    def drift(self) -> list[DriftState]:
        """The latest drift evaluation per model version (empty when drift is off)."""
        runtime = self._runtime
        return runtime.drift.states() if runtime is not None and runtime.drift else []

    def models(self) -> list[ModelServing]:
        """Per model: the version serving now, the alias it follows, its candidate (shadow or
        canary) and its automatic retraining (running, how many, why the last)."""
        return self._runtime.models() if self._runtime is not None else []

    def feedback(self) -> FeedbackSummary | None:
        """The joiners' latest counters and live metrics (``None`` without ``feedback:``)."""
        if self._runtime is None:
            raise PipelineError(f"pipeline {self.spec.name} is not running")
        service = self._runtime.feedback
        return service.summary() if service is not None else None

    def actions(self) -> list[dict[str, Any]]:
        """The recent rollout actions, newest last (at most 200): the alerts published to
        ``rollout.alerts_topic`` for each retraining started (``retrain``), candidate
        (``candidate``), shadow started, promotion, rollback and swap (docs/contracts.md)."""
        return self._runtime.actions.recent() if self._runtime is not None else []

    def scale_workers(self, count: int, timeout_s: float = 30.0) -> None:
        """Run ``count`` source workers now: new ones join the consumer group, the newest
        leave first, draining (finish, commit, leave the group). The autoscaler, when on,
        may change the count again at its next look."""
        if self._runtime is None:
            raise PipelineError(f"pipeline {self.spec.name} is not running")
        if count < 1:
            raise PipelineError(f"scale_workers({count}): a pipeline needs at least 1 worker")
        self._runtime.scale_to(count, timeout_s)

    def scale_joiners(self, count: int, timeout_s: float = 30.0) -> None:
        """Run ``count`` feedback joiners: all drain (produce, commit) and the new number
        starts with a new share of the partitions each."""
        service = self._runtime.feedback if self._runtime is not None else None
        if service is None:
            raise PipelineError(f"pipeline {self.spec.name} runs no feedback joiners")
        service.pool.scale_to(count, timeout_s)

    def drain(self, timeout_s: float = 30.0) -> PipelineStats:
        """Stop reading and finish what the workers hold (every output acknowledged, its
        offsets committed), leaving the embedded broker, Ray and Serve up until
        :meth:`stop` (to read the output topics to their end, say); the final counters."""
        return self._runtime.drain(timeout_s) if self._runtime else PipelineStats()

    def stop(self, timeout_s: float = 30.0) -> PipelineStats:
        """Drain and stop; returns the final counters. Safe to call twice."""
        runtime, self._runtime = self._runtime, None
        return runtime.stop(timeout_s) if runtime else PipelineStats()

    def run(
        self, *, live: bool = False, max_events: int | None = None, refresh_s: float = 1.0
    ) -> PipelineStats:
        """Run in the foreground until SIGINT/SIGTERM (or ``max_events`` events were read).

        ``live`` draws a table of throughput, latency and lag in the terminal.
        """
        with StopSignals() as signals:
            try:
                self.start()
                log.info("pipeline %s running: kafka %s%s", self.spec.name,
                         self.bootstrap_servers,
                         f", metrics {self.metrics_url}" if self.metrics_url else "")
                self._watch(signals.event, live=live, max_events=max_events,
                            refresh_s=refresh_s)
            finally:
                final = self.stop()
        return final

    def _watch(self, stop: threading.Event, *, live: bool, max_events: int | None,
               refresh_s: float) -> None:
        from rich.console import Console, Group

        from streaminfer.pipelines.online.live_view import (
            RateMeter,
            drift_table,
            feedback_table,
            live_display,
            models_table,
            stats_table,
        )

        meter = RateMeter()
        watch = StallWatch(self.spec.metrics.stall_after_s)
        view = live_display(Console(stderr=True)) if live else None
        with view or contextlib.nullcontext() as shown:
            while not stop.wait(refresh_s):
                stats = self.stats()
                meter.update(stats.events_in)
                warning = self._stall_warning(watch, stats)
                if shown is not None:
                    table = stats_table(f"streaminfer: {self.spec.name}", stats, meter.rate,
                                        warning=warning)
                    feedback, models = self.feedback(), self.models()
                    shown.update(Group(table, models_table(models),
                                       drift_table(self.drift(), serving={
                                           m.model: m.version for m in models}),
                                       feedback_table(feedback) if feedback else ""),
                                 refresh=True)
                if stats.workers_expected and stats.workers_dead == stats.workers_expected:
                    crash = self._runtime.last_crash if self._runtime is not None else None
                    raise PipelineError(
                        "every worker died beyond workers.max_restarts"
                        + (f"; the last crash: {crash}" if crash else "") + "; see the log above"
                    )
                if max_events is not None and stats.events_in >= max_events:
                    return

    def _stall_warning(self, watch: StallWatch, stats: PipelineStats) -> str | None:
        """Log once when reading stops while events wait; the line for the live view."""
        was_stalled = watch.stall is not None
        stall = watch.update(time.monotonic(), stats.events_in, stats.lag)
        if stall is None:
            if was_stalled:
                log.info("reading again")
            return None
        message = stall_message(stall, embedded=self.spec.kafka.is_embedded)
        if not was_stalled:
            log.warning(message)
        return message

    def __enter__(self) -> Pipeline:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
