"""The driver's look at its workers, once a second: keep what it learns, publish metrics.

The only place where reading the workers has effects: their last counters, deaths and
metric families are noted in the pool (which serves the families of the workers it holds
on the driver's ``/metrics`` endpoint), and the drift monitor gets the answers.
"""

from __future__ import annotations

from streaminfer.pipelines.online.drift_monitor import DriftMonitor
from streaminfer.pipelines.runtime.driver_thread import DriverThread
from streaminfer.pipelines.runtime.metrics_server import MetricsServer
from streaminfer.pipelines.runtime.worker_pool import WorkerPool

EVERY_S = 1.0


class PoolMonitor:
    """A driver thread reading ``pool`` every ``every_s``; :meth:`stop` ends it."""

    def __init__(
        self, pool: WorkerPool, metrics: MetricsServer | None, every_s: float = EVERY_S,
        drift: DriftMonitor | None = None,
    ) -> None:
        self.pool = pool
        self.metrics = metrics
        self.drift = drift
        self.thread = DriverThread("pool-monitor", "worker monitor", every_s, self.look)

    def start(self) -> PoolMonitor:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.thread.stop(10.0)

    def look(self) -> None:
        """One reading: noted in the pool, published as metrics."""
        reading = self.pool.read(families=self.metrics is not None)
        self.pool.note(reading)
        if self.metrics is not None:
            self.metrics.workers_alive.set(len(reading.answered))
        if self.drift is not None:
            self.drift.look(reading.answered)
