"""The pictures demo (configs/demo-pictures.yaml's model section, a real broker, Ray, CNN and
joiner): every picture comes back once, the bad ones dead-lettered with their reasons; the
labels that follow show the accuracy, which falls once the light fades, and the prediction
drifts from the training profile."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from rich.console import Console

from streaminfer.operators.records import Record
from streaminfer.pipelines.devtools.outcomes import event_index
from streaminfer.pipelines.devtools.picture_demo import PictureRun, picture_view
from streaminfer.pipelines.online.live_view import RateMeter
from streaminfer.waiting import wait_until
from tests.fixtures.feedback import feedback_section, run_demo_until_joined

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
EVENTS, SHIFT_AFTER, BAD_EVERY = 600, 300, 50  # 12 bad ones: each of the 4 kinds


def _accuracy(examples: list[dict[str, Any]]) -> float:
    return sum(e["label"] == e["outputs"]["fruit"] for e in examples) / len(examples)


def test_the_pictures_demo_names_the_fruit_and_shows_the_fall_after_the_light_fades(
    ray_session: None, pipeline_spec_factory: Callable[..., Any],
    model_factory: Callable[[str], Path], topic_factory: Callable[..., str],
    read_all: Callable[[str], list[Record]],
) -> None:
    config = yaml.safe_load((REPO / "configs/demo-pictures.yaml").read_text())
    model = {key: value for key, value in config["model"].items() if key != "path"}
    fb = feedback_section(live=config["feedback"]["live"])
    spec = pipeline_spec_factory(
        model=model_factory("apples_oranges"), partitions=2, model_options=model,
        source={"features": None}, batching={"max_size": 256, "max_wait_ms": 50},
        drift={**config["drift"], "window_s": 600, "alerts_topic": topic_factory(1)},
        feedback=fb)
    console = Console(file=io.StringIO(), width=120)
    run = PictureRun(spec, events=EVENTS, rate=600, bad_every=BAD_EVERY,
                     shift_after=SHIFT_AFTER, label_delay_s=1.0)
    good = EVENTS - EVENTS // BAD_EVERY
    try:
        run_demo_until_joined(run, console, good)
        assert wait_until(lambda: sum(s.rows for s in run.pipeline.drift()) >= good, 60)
        [drift] = run.pipeline.drift()
        console.print(picture_view(run, RateMeter()))
    finally:
        summary = run.stop()
    assert summary is not None and summary.adds_up, summary
    assert summary.dead_letters == EVENTS // BAD_EVERY
    reasons = {dict(r.headers)["error.type"].decode()
               for r in read_all(spec.sink.dead_letter_topic)}
    assert reasons == {"invalid_base64", "not_a_picture", "missing_feature", "truncated_picture"}

    examples = [orjson.loads(r.value or b"") for r in read_all(fb["training_topic"])]
    assert len({e["id"] for e in examples}) == good
    daylight = [e for e in examples if event_index(e["id"].encode()) < SHIFT_AFTER]
    dusk = [e for e in examples if event_index(e["id"].encode()) >= SHIFT_AFTER]
    assert _accuracy(daylight) > 0.9
    assert _accuracy(dusk) < _accuracy(daylight) - 0.1
    assert drift.psi["prediction"] > 0.1  # in daylight alone it stays near 0.01

    shown = console.file.getvalue()  # type: ignore[attr-defined]
    for line in ("what the CNN sees", "apple", "orange", "accuracy=", "images/s",
                 "e2e p99 ms", "prediction",
                 f"input shifted from event {SHIFT_AFTER}: the light fades"):
        assert line in shown, (line, shown)
