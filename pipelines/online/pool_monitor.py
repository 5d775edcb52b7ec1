"""The driver's look at its workers, once a second: keep what it learns, publish metrics.

The only place where reading the workers has effects: their last counters, deaths, restarts
and metric families are noted in the pool (which serves the families of the workers it holds
on the driver's ``/metrics`` endpoint), and the drift monitor gets the answers. Workers that
crash with the same error ``workers.crash_loop.max_crashes`` times within its ``window_s``
fail the pipeline with one line (:attr:`PoolMonitor.failure`, handed to ``on_failure``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from streaminfer.errors import PipelineError
from streaminfer.pipelines.online.drift_monitor import DriftMonitor
from streaminfer.pipelines.runtime.crash_loop import Crash, CrashWatch
from streaminfer.pipelines.runtime.driver_thread import DriverThread
from streaminfer.pipelines.runtime.metrics_server import MetricsServer
from streaminfer.pipelines.runtime.worker_pool import WorkerPool
from streaminfer.pipelines.spec.schema import CrashLoopSpec

log = logging.getLogger(__name__)

EVERY_S = 1.0


class PoolMonitor:
    """A driver thread reading ``pool`` every ``every_s``; :meth:`stop` ends it."""

    def __init__(
        self, pool: WorkerPool, metrics: MetricsServer | None, every_s: float = EVERY_S,
        drift: DriftMonitor | None = None, crash_loop: CrashLoopSpec | None = None,
        on_failure: Callable[[PipelineError], None] | None = None,
    ) -> None:
        self.pool = pool
        self.metrics = metrics
        self.drift = drift
        rule = crash_loop or CrashLoopSpec()
        self.watch = CrashWatch("workers", "workers.crash_loop", rule.max_crashes,
                                rule.window_s)
        self.on_failure = on_failure
        self.thread = DriverThread("pool-monitor", "worker monitor", every_s, self.look)

    def start(self) -> PoolMonitor:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.thread.stop(10.0)

    def look(self) -> None:
        """One reading: noted in the pool, published as metrics, crashes weighed."""
        reading = self.pool.read(families=self.metrics is not None)
        crashes = self.pool.note(reading)
        if self.metrics is not None:
            self.metrics.workers_alive.set(len(reading.answered))
        if self.drift is not None:
            self.drift.look(reading.answered)
        if crashes:
            self.weigh(crashes, time.time())

    @property
    def last_crash(self) -> Crash | None:
        return self.watch.last

    @property
    def failure(self) -> PipelineError | None:
        return self.watch.failure

    def weigh(self, crashes: list[Crash], now: float) -> None:
        """Log each crash; fail the pipeline once they are a loop (once)."""
        failure = self.watch.weigh(crashes, now)
        if failure is not None and self.on_failure is not None:
            self.on_failure(failure)
