"""The pool monitor fails the pipeline once workers crash the same way again and again."""

from __future__ import annotations

from typing import Any

from streaminfer.errors import PipelineError
from streaminfer.pipelines.online.pool_monitor import PoolMonitor
from streaminfer.pipelines.runtime.crash_loop import Crash
from streaminfer.pipelines.spec.schema import CrashLoopSpec


def monitor(max_crashes: int = 3, window_s: float = 60.0) -> tuple[PoolMonitor, list[Any]]:
    failures: list[PipelineError] = []
    pool: Any = None
    watch = PoolMonitor(pool, None, crash_loop=CrashLoopSpec(max_crashes=max_crashes,
                                                             window_s=window_s),
                        on_failure=failures.append)
    return watch, failures


def test_three_crashes_of_one_reason_in_the_window_fail_the_pipeline_once() -> None:
    watch, failures = monitor()
    reason = "KeyError: 'label' (in operators/profile.py)"
    watch.weigh([Crash("w0", reason, 0.0)], now=0.0)
    watch.weigh([Crash("w1", "E: other", 5.0), Crash("w1", reason, 10.0)], now=10.0)
    assert watch.failure is None and failures == []
    watch.weigh([Crash("w0", reason, 20.0)], now=20.0)
    assert watch.failure is not None and failures == [watch.failure]
    assert str(watch.failure).startswith(f"workers crashed 3 times in 60 s with: {reason}; "
                                         "stopped.")
    watch.weigh([Crash("w0", reason, 21.0)], now=21.0)
    assert len(failures) == 1  # once


def test_crashes_spread_wider_than_the_window_do_not() -> None:
    watch, failures = monitor(window_s=15.0)
    for at in (0.0, 10.0, 20.0, 30.0):
        watch.weigh([Crash("w0", "E: x", at)], now=at)
    assert failures == [] and [c.at for c in watch.watch.crashes] == [20.0, 30.0]


def test_max_crashes_0_never_fails() -> None:
    watch, failures = monitor(max_crashes=0)
    for at in range(10):
        watch.weigh([Crash("w0", "E: x", float(at))], now=float(at))
    assert failures == [] and watch.failure is None
