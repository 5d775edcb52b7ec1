"""The demo left running stops at a cap on the embedded broker's memory, with one line, and
drains first: every event it produced is still accounted for exactly once."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from rich.console import Console

from streaminfer.pipelines.devtools.demo import DemoRun
from streaminfer.pipelines.devtools.demo_run import memory_cap_line
from streaminfer.waiting import wait_until


def test_the_cap_line_names_the_memory_the_cap_and_the_option() -> None:
    assert memory_cap_line(4000.0, 4096.0) is None
    assert memory_cap_line(4096.0, 4096.0) is None
    assert memory_cap_line(1e6, None) is None
    line = memory_cap_line(4100.4, 4096.0)
    assert line is not None and "4,100.4 MB" in line and "4,096 MB" in line
    assert "--broker-memory-cap-mb" in line and "\n" not in line


@pytest.mark.integration
def test_the_demo_stops_at_the_broker_memory_cap_with_its_books_adding_up(
    ray_session: None, pipeline_spec_factory: Callable[..., Any],
) -> None:
    # Its own embedded broker (the cap watches the broker the demo started).
    spec = pipeline_spec_factory(model="breast_cancer", kafka={
        "bootstrap_servers": "embedded", "embedded": {"port": 0}})
    run = DemoRun(spec, events=None, rate=3000, bad_every=50, broker_memory_cap_mb=None)
    try:
        run.start(Console(file=io.StringIO()))
        start_mb = run.broker_rss_mb()
        assert start_mb is not None
        assert run.memory_capped() is None  # no cap yet
        run.broker_memory_cap_mb = start_mb + 4  # a second or two of the demo's traffic
        assert wait_until(lambda: run.memory_capped() is not None, 120), run.broker_rss_mb()
        sent_at_cap = run.generator.sent if run.generator else 0
    finally:
        summary = run.stop(finish=True)
    assert run.capped is not None and "over the demo's cap" in run.capped
    assert summary is not None and summary.adds_up, summary
    assert 0 < sent_at_cap <= summary.events and summary.dead_letters > 0
