"""The live view: the table, its warning line and the rate meter (pure)."""

import time

from rich.console import Console

from streaminfer.pipelines.online.live_view import RateMeter, stats_table
from streaminfer.pipelines.runtime.driver_thread import ThreadError
from streaminfer.pipelines.runtime.stats import PipelineStats
from streaminfer.pipelines.runtime.worker_metrics import WorkerStats


def test_the_live_view_shows_the_warning_under_the_table():
    stats = PipelineStats([WorkerStats("w-0", 1, events_in=5, lag={"t/0": 90})], 1)
    console = Console(width=200, record=True)
    console.print(stats_table("demo", stats, 0.0, warning="no events read in 31s"))
    text = console.export_text()
    assert "no events read in 31s" in text and "w-0" in text
    console = Console(width=200, record=True)
    console.print(stats_table("demo", stats, 0.0))
    assert "no events read" not in console.export_text()


def test_the_live_view_shows_each_driver_thread_s_last_error():
    stats = PipelineStats([WorkerStats("w-0", 1)], 1, thread_errors=[
        ThreadError("alias follower", "ActorDiedError: the store died", time.time(), 2)])
    console = Console(width=200, record=True)
    console.print(stats_table("demo", stats, 0.0, warning="no events read in 31s"))
    text = console.export_text()
    assert "no events read in 31s" in text
    assert "alias follower failed 2 time(s), last 0s ago: ActorDiedError: the store died" in text


def test_the_rate_meter_averages_over_its_window_so_bursty_counters_read_steady():
    meter = RateMeter(window_s=5)
    # a counter that grows by 2,000 once a second, looked at twice a second
    rates = [meter.update(2000 * int(t / 2), now=t / 2) for t in range(0, 30)]
    assert all(1600 <= r <= 2400 for r in rates[12:]), rates
    assert meter.update(28_000, now=20.0) == 0.0  # nothing for longer than the window
