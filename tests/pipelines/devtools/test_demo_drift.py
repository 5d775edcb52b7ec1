"""The demo's shift: part way through, its generator moves three features and the drift alert
fires, once per shifted feature, while every event is still accounted for."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from rich.console import Console

from streaminfer.operators.records import Record
from streaminfer.pipelines.devtools.demo import SHIFTED_FEATURES, DemoRun, _view
from streaminfer.pipelines.online.live_view import RateMeter
from streaminfer.waiting import wait_until

pytestmark = pytest.mark.integration

EVENTS, SHIFT_AFTER = 3_000, 1_500  # half shifted, as before; 1 s at the rate


def test_demo_shift_fires_the_drift_alert(
    ray_session: None, pipeline_spec_factory: Callable[..., Any],
    topic_factory: Callable[..., str], read_all: Callable[[str], list[Record]],
) -> None:
    alerts_topic = topic_factory(1, prefix="alerts")
    spec = pipeline_spec_factory(model="breast_cancer", drift={
        "window_s": 600, "min_events": 1000, "alerts_topic": alerts_topic,
        "prediction_threshold": 100.0})  # features only: the count below is exact
    console = Console(file=io.StringIO(), width=120)
    run = DemoRun(spec, events=EVENTS, rate=3000, bad_every=0, shift_after=SHIFT_AFTER,
                  shift_sd=2.0)
    try:
        run.start(console)
        assert wait_until(run.done, 180), "the demo did not finish"
        assert wait_until(lambda: sum(s.rows for s in run.pipeline.drift()) >= EVENTS
                          and all(s.psi for s in run.pipeline.drift()), 60)
        console.print(_view(run, RateMeter(), console))
    finally:
        summary = run.stop()
    assert summary is not None and summary.adds_up, summary
    alerts = read_all(alerts_topic)  # stopped, and each alert was flushed when published
    metrics = Counter(orjson.loads(r.value or b"")["metric"] for r in alerts)
    assert metrics == Counter(f"psi:{name}" for name in SHIFTED_FEATURES)
    shown = console.file.getvalue()  # type: ignore[attr-defined]
    assert "drift (PSI vs the version's training profile)" in shown
    assert "input shifted from event" in shown
