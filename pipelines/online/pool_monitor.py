"""The driver's look at its workers, once a second: keep what it learns, publish metrics.

The only place where reading the workers has effects: their last counters and deaths are
noted in the pool, and their metric families go to the driver's ``/metrics`` endpoint.
"""

from __future__ import annotations

import logging
import threading

from streaminfer.pipelines.common.metrics_server import MetricsServer
from streaminfer.pipelines.online.drift_monitor import DriftMonitor
from streaminfer.pipelines.online.worker_pool import WorkerPool

log = logging.getLogger(__name__)

EVERY_S = 1.0


class PoolMonitor:
    """A daemon thread reading ``pool`` every ``every_s``; :meth:`stop` ends it."""

    def __init__(
        self, pool: WorkerPool, metrics: MetricsServer | None, every_s: float = EVERY_S,
        drift: DriftMonitor | None = None,
    ) -> None:
        self.pool = pool
        self.metrics = metrics
        self.drift = drift
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pool-monitor", daemon=True)

    def start(self) -> PoolMonitor:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10.0)

    def look(self) -> None:
        """One reading: noted in the pool, published as metrics."""
        reading = self.pool.read(families=self.metrics is not None)
        self.pool.note(reading)
        if self.metrics is not None:
            for stats in reading.answered.values():
                self.metrics.workers.update(stats.worker_id, stats.families)
            self.metrics.workers_alive.set(len(reading.answered))
        if self.drift is not None:
            self.drift.look(reading.answered)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.look()
            except Exception as exc:  # Ray going away during a stop; the next look retries
                log.debug("worker pool monitor: %s", exc)
