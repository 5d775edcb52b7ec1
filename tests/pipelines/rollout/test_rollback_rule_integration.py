"""The automatic rollback: a new champion trained on shuffled labels scores worse live
(labels joined by the feedback joiner) than the one before it; the rule rolls it back, says
why in an alert on the alerts topic, and the workers serve the previous champion again."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from streaminfer.operators.records import Record
from streaminfer.pipelines.devtools.example_models import Dataset
from streaminfer.pipelines.lifecycle.registry import Lineage, Registry
from streaminfer.waiting import wait_until
from tests.fixtures.feedback import feedback_section, label_values

pytestmark = pytest.mark.integration
PHASE = 300


def test_a_worse_new_champion_is_rolled_back_by_the_rule_with_an_alert(
    two_versions: Registry, following: Callable[..., Any],
    train_onnx: Callable[[np.ndarray, np.ndarray, str], Path],
    dataset_factory: Callable[[str], Dataset],
    make_events: Callable[..., tuple[list[bytes], list[bytes]]],
    produce: Callable[..., None], read_topic: Callable[..., list[Record]],
    read_all: Callable[[str], list[Record]], topic_factory: Callable[..., str],
) -> None:
    registry = two_versions
    bc = dataset_factory("breast_cancer")
    shuffled = np.random.default_rng(0).permutation(bc.y)
    registry.register_model("bc", train_onnx(bc.X, shuffled, "shuffled"), metrics={},
                            lineage=Lineage("retrain", parent_version="1"))  # version 3
    running = following(partitions=2, workers={"count": 1},
                        feedback=feedback_section(),
                        rollout={"rollback": {"metric": "accuracy", "max_drop": 0.1,
                                              "min_examples": 150},
                                 "alerts_topic": topic_factory(1, prefix="alerts")})
    pipe, fb = running.pipeline, running.spec.feedback
    follower = pipe.follower

    def labelled(version: str) -> float:
        summary = pipe.feedback()
        return summary.live.get(("bc", version), {}).get("examples", 0) if summary else 0

    def phase(start: int) -> None:
        keys, values = make_events(bc, PHASE, start=start)
        produce(running.source_topic, values, keys)
        ids = [f"e{i}" for i in range(start, start + PHASE)]
        produce(fb.labels_topic, *label_values(ids, [int(bc.y[i % len(bc.y)])
                                                     for i in range(start, start + PHASE)]))

    phase(0)
    assert wait_until(lambda: labelled("1") >= PHASE, 90)
    registry.promote("bc", "3")
    assert wait_until(lambda: follower.serving == {"bc": "3"}, 60)
    phase(PHASE)
    assert wait_until(lambda: follower.serving == {"bc": "1"}, 120)
    assert registry.aliases("bc")["champion"] == "1"
    assert [a["kind"] for a in follower.actions] == ["swap", "rollback", "swap"]
    alert = follower.actions[1]
    assert (alert["kind"], alert["model"], alert["version"]) == ("rollback", "bc", "3")
    assert alert["value"] < alert["threshold"] - 0.1 and alert["window"] == "150+ examples"
    def published() -> list[Any]:
        return [orjson.loads(r.value) for r in read_all(running.spec.rollout.alerts_topic)
                if r.value is not None]

    assert wait_until(lambda: alert in published(), 10), published()
    assert "automatic rollback to version 1" in alert["message"]
    phase(2 * PHASE)
    predictions = [orjson.loads(r.value) for r in
                   read_topic(running.predictions_topic, 3 * PHASE)]
    last = [p for p in predictions if int(p["id"][1:]) >= 2 * PHASE]
    assert len(last) == PHASE and {p["model_version"] for p in last} == {"1"}
