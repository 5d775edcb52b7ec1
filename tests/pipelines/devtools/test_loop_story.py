"""The loop demo's pure parts: the story (steps, accuracies at its moments), its panels, and
its registry folder (fresh at each start, never someone else's)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from streaminfer.errors import ConfigError
from streaminfer.pipelines.devtools.loop_registry import MARKER, fresh_store, store_folder
from streaminfer.pipelines.devtools.loop_story import LoopStory
from streaminfer.pipelines.devtools.loop_view import loop_panels, phase, summary_table
from streaminfer.pipelines.spec.schema import PipelineSpec

START = 1_764_000_000_000


def act(kind: str, version: str, at_s: float, message: str = "") -> dict[str, Any]:
    return {"kind": kind, "model": "bc", "version": version, "ts": START + int(at_s * 1000),
            "message": message}


LOOP = [act("retrain", "1", 33.0, "live accuracy 0.8790 is below 0.9"),
        act("candidate", "2", 41.0, "version 2 registered; gate passed"),
        act("shadow", "2", 42.0), act("promote", "2", 47.5), act("swap", "2", 47.9)]


def play(story: LoopStory) -> None:
    """A loop as the demo sees it, one look a second."""
    for second in range(0, 60):
        shifted = second >= 30
        serving = "2" if second >= 48 else "1"
        v1 = 0.99 if second < 32 else max(0.81, 0.99 - 0.03 * (second - 31))
        live = {"1": v1} | ({"2": 0.975 + second / 10_000} if second >= 43 else {})
        actions = [a for a in LOOP if a["ts"] <= START + second * 1000]
        drift = {"1": "3 drift alert(s): mean_texture"} if second >= 34 else {}
        story.update(float(second), shifted=shifted, serving=serving, live=live,
                     actions=actions * 2, drift=drift)  # an action seen twice counts once


def test_the_story_of_a_loop() -> None:
    story = LoopStory(started_ms=START)
    play(story)
    assert [(s.at_s, s.kind, s.version) for s in story.steps] == [
        (30.0, "shift", "1"), (33.0, "retrain", "1"), (34.0, "drift", "1"),
        (41.0, "candidate", "2"), (42.0, "shadow", "2"), (47.5, "promote", "2"),
        (47.9, "swap", "2")]
    assert story.before_drift == 0.99
    assert story.after_drift == pytest.approx(0.81)  # its lowest before the promotion
    assert story.after_promotion == pytest.approx(0.975 + 59 / 10_000)
    assert story.promoted == "2"


def test_no_promotion_no_after_promotion() -> None:
    story = LoopStory(started_ms=START)
    story.update(1.0, shifted=False, serving="1", live={"1": 0.98})
    story.update(2.0, shifted=True, serving="1", live={"1": 0.95})
    assert (story.before_drift, story.after_drift, story.after_promotion) == (0.98, 0.95, None)
    assert phase(story, "1") == "the input shifted: live accuracy of v1 is falling"
    story.update(3.0, shifted=True, serving="1", live={"1": 0.85}, actions=[
        {"kind": "candidate", "version": None, "ts": START + 3000,
         "message": "retraining failed: 12 examples"}])
    assert phase(story, "1").startswith("the retraining failed")
    story.update(4.0, shifted=True, serving="1", live={"1": 0.85}, actions=[
        act("candidate", "2", 4.0, "version 2 trained, gate rejected it: accuracy")])
    assert phase(story, "1") == "v2 registered: rejected by the gate"


def test_panels_and_summary_show_the_loop() -> None:
    story = LoopStory(started_ms=START)
    play(story)
    console = Console(file=io.StringIO(), width=200)
    console.print(loop_panels(story, "bc", "2", {"1": {"accuracy": 0.81, "examples": 2000},
                                                 "2": {"accuracy": 0.98, "examples": 1500}},
                              {"2": "champion, serving"}))
    console.print(summary_table(story))
    shown = console.file.getvalue()  # type: ignore[attr-defined]
    assert "loop: v2 serving; live accuracy 0.981" in shown
    for line in ("+0:33.0", "retrain", "live accuracy 0.8790 is below 0.9", "+0:47.5",
                 "champion, serving", "0.810", "1,500", "retrain -> promote", "14.5 s",
                 "accuracy before the drift", "0.990"):
        assert line in shown, line
    assert phase(LoopStory(started_ms=START), "1") == \
        "serving v1; waiting for the input to shift"


def loop_spec(uri: str | None) -> PipelineSpec:
    return PipelineSpec.model_validate({
        "name": "loop", "kafka": {"bootstrap_servers": "127.0.0.1:9"},
        "source": {"topics": ["e"], "group_id": "g", "features": ["a", "b"]},
        "model": {"path": "models:/bc@champion"},
        "sink": {"predictions_topic": "p", "dead_letter_topic": "d"},
        "registry": {"tracking_uri": uri} if uri else {},
    })


def test_the_store_folder_is_the_yamls_sqlite_folder(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'loop' / 'mlflow.db'}"
    assert store_folder(loop_spec(uri)) == tmp_path / "loop"
    for other in (None, "http://mlflow:5000"):
        with pytest.raises(ConfigError, match=r"registry\.tracking_uri: sqlite:///"):
            store_folder(loop_spec(other))


def test_a_fresh_store_empties_only_its_own_folder(tmp_path: Path) -> None:
    folder = tmp_path / "loop"
    fresh_store(folder)
    (folder / "mlflow.db").write_text("old runs")
    fresh_store(folder)
    assert sorted(p.name for p in folder.iterdir()) == [MARKER]
    made_by_mlflow = tmp_path / "validated"  # `streaminfer validate-config` made this one
    (made_by_mlflow / "mlartifacts").mkdir(parents=True)
    (made_by_mlflow / "mlflow.db").write_text("tables")
    fresh_store(made_by_mlflow)
    assert sorted(p.name for p in made_by_mlflow.iterdir()) == [MARKER]
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "keep.txt").write_text("not the demo's")
    with pytest.raises(ConfigError, match="is not the loop demo's registry folder"):
        fresh_store(theirs)
    assert (theirs / "keep.txt").read_text() == "not the demo's"
