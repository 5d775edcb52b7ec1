"""Feedback next to a pipeline: topics checked, joiners started, watched, stopped.

Started by the online driver when the YAML has ``feedback:`` (``streaminfer run``), or alone
by ``streaminfer join``. A monitor thread reads the joiners once a second, publishes their
metric families and the live gauges on the driver's endpoint, and keeps the latest
:class:`FeedbackSummary` for the live view.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from streaminfer.pipelines.common.metrics_server import MetricsServer
from streaminfer.pipelines.feedback.joiner_pool import JoinerPool
from streaminfer.pipelines.feedback.live_metrics import FeedbackSummary, LiveGauges, summarize
from streaminfer.pipelines.feedback.topics import prepare_feedback_topics
from streaminfer.pipelines.spec.schema import PipelineSpec

log = logging.getLogger(__name__)

EVERY_S = 1.0


class FeedbackService:
    """The joiners of one pipeline and their monitor; :meth:`stop` drains them."""

    def __init__(self, spec: PipelineSpec, bootstrap_servers: str, kafka_config: dict[str, Any],
                 metrics: MetricsServer | None) -> None:
        assert spec.feedback is not None
        self.spec = spec
        self.fb = spec.feedback
        self.metrics = metrics
        self.partitions = prepare_feedback_topics(spec, kafka_config)
        self.pool = JoinerPool(spec, bootstrap_servers, self.partitions)
        self.gauges = LiveGauges(metrics.registry) if metrics is not None else None
        self._summary = FeedbackSummary()
        self._published: set[str] = set()  # joiners whose families the endpoint serves
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="feedback-monitor", daemon=True)

    def start(self) -> FeedbackService:
        self.pool.scale_to(self.fb.joiners.count)
        self._thread.start()
        return self

    def summary(self) -> FeedbackSummary:
        """The latest reading (at most a second old)."""
        with self._lock:
            return self._summary

    def look(self) -> FeedbackSummary:
        """Read the joiners now; publish and keep what they say."""
        stats = self.pool.read(families=self.metrics is not None)
        summary = summarize(stats, self.fb)
        if self.metrics is not None and self.gauges is not None:
            for s in stats:
                self.metrics.workers.update(s.joiner_id, s.families)
            current = {s.joiner_id for s in stats}
            for gone in self._published - current:  # retired by a scale: their series end
                self.metrics.workers.update(gone, [])
            self._published = current
            self.gauges.update(summary)
        with self._lock:
            self._summary = summary
        return summary

    def _run(self) -> None:
        while not self._stop.wait(EVERY_S):
            try:
                self.look()
            except Exception as exc:  # Ray going away during a stop; the next look retries
                log.debug("feedback monitor: %s", exc)

    def stop(self, timeout_s: float = 30.0) -> FeedbackSummary:
        """Stop the monitor, drain the joiners; the final summary."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10.0)
        final = summarize(self.pool.stop(timeout_s), self.fb)
        with self._lock:
            self._summary = final
        return final
