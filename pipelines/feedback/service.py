"""Feedback next to a pipeline: topics checked, joiners started, watched, stopped.

Started by the online driver when the YAML has ``feedback:`` (``streaminfer run``), or alone
by ``streaminfer join``. A monitor thread (a :class:`DriverThread`) reads the joiners once a
second, publishes their metric families (the pool does: a retired joiner's series end) and
the live gauges on the driver's endpoint, and keeps the latest :class:`FeedbackSummary` for
the live view. Joiners that crash with the same error ``feedback.joiners.crash_loop``'s
number of times within its window fail the service with one line (:attr:`failure`, handed
to ``on_failure``).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from streaminfer.errors import PipelineError
from streaminfer.pipelines.feedback.joiner_pool import JoinerPool
from streaminfer.pipelines.feedback.live_metrics import FeedbackSummary, LiveGauges, summarize
from streaminfer.pipelines.feedback.topics import prepare_feedback_topics
from streaminfer.pipelines.runtime.crash_loop import CrashWatch
from streaminfer.pipelines.runtime.driver_thread import DriverThread
from streaminfer.pipelines.runtime.joiner_metrics import JoinerStats
from streaminfer.pipelines.runtime.metrics_server import MetricsServer
from streaminfer.pipelines.spec.schema import PipelineSpec

log = logging.getLogger(__name__)

EVERY_S = 1.0


class FeedbackService:
    """The joiners of one pipeline and their monitor; :meth:`stop` drains them."""

    def __init__(self, spec: PipelineSpec, bootstrap_servers: str, kafka_config: dict[str, Any],
                 metrics: MetricsServer | None,
                 on_failure: Callable[[PipelineError], None] | None = None) -> None:
        assert spec.feedback is not None
        self.spec = spec
        self.fb = spec.feedback
        self.metrics = metrics
        self.bootstrap_servers = bootstrap_servers
        self.partitions = prepare_feedback_topics(spec, kafka_config)
        self.pool = JoinerPool(spec, bootstrap_servers, self.partitions,
                               series=metrics.workers if metrics is not None else None)
        self.shadow_pool: JoinerPool | None = None  # started with the first shadow
        self.gauges = LiveGauges(metrics.registry) if metrics is not None else None
        self._summary = FeedbackSummary()
        rule = self.fb.joiners.crash_loop
        self.crashes = CrashWatch("joiners", "feedback.joiners.crash_loop", rule.max_crashes,
                                  rule.window_s)
        self.on_failure = on_failure
        self._lock = threading.Lock()
        self.thread = DriverThread("feedback-monitor", "feedback monitor", EVERY_S, self.look)

    def start(self) -> FeedbackService:
        self.pool.scale_to(self.fb.joiners.count)
        self.thread.start()
        return self

    def summary(self) -> FeedbackSummary:
        """The latest reading (at most a second old)."""
        with self._lock:
            return self._summary

    def follow_shadow(self) -> None:
        """Join the shadow topic's predictions to the labels too, so a shadow has live
        metrics per version; started once, on the first call (the follower's, when a shadow
        starts), with as many joiners as ``feedback.joiners.count``."""
        with self._lock:
            if self.shadow_pool is not None:
                return
            topic = self.spec.rollout.shadow_topic_for(self.spec.sink.predictions_topic)
            self.shadow_pool = JoinerPool(self.spec, self.bootstrap_servers, self.partitions,
                                          shadow_topic=topic)
        self.shadow_pool.scale_to(self.fb.joiners.count)
        log.info("joining the shadow's predictions on %s to the labels", topic)

    def look(self) -> FeedbackSummary:
        """Read the joiners now; publish and keep what they say; weigh their crashes."""
        stats, crashes = self.pool.read(families=self.metrics is not None)
        shadow: list[JoinerStats] = []
        if self.shadow_pool is not None:
            shadow, more = self.shadow_pool.read()
            crashes += more
        failure = self.crashes.weigh(crashes, time.time())
        if failure is not None and self.on_failure is not None:
            self.on_failure(failure)
        summary = self._with_crash(summarize(stats, self.fb, shadow))
        if self.gauges is not None:
            self.gauges.update(summary)
        with self._lock:
            self._summary = summary
        return summary

    def stop(self, timeout_s: float = 30.0) -> FeedbackSummary:
        """Stop the monitor, drain the joiners; the final summary."""
        self.thread.stop(10.0)
        shadow = self.shadow_pool.stop(timeout_s) if self.shadow_pool is not None else []
        final = self._with_crash(summarize(self.pool.stop(timeout_s), self.fb, shadow))
        with self._lock:
            self._summary = final
        return final

    @property
    def failure(self) -> PipelineError | None:
        """Why the joiners stopped the pipeline (a crash loop); ``None`` while they work."""
        return self.crashes.failure

    def _with_crash(self, summary: FeedbackSummary) -> FeedbackSummary:
        last = self.crashes.last
        return dataclasses.replace(summary, last_crash=last.reason if last else None)
