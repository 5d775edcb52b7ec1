"""The closed loop in one running pipeline on models:/bc@champion: the labels flip (concept
drift), so the champion is wrong; the pipeline retrains by itself from its training topic
(a Ray task), a first try on one class fails with an alert and the pipeline goes on, the
second candidate passes the gate and shadows, its live metrics (the shadow's predictions
joined to the labels) beat the champion's, it is promoted by the rule and served, and the
alerts topic tells it all in order."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from streaminfer.operators.records import Record
from streaminfer.pipelines.devtools.example_models import Dataset
from streaminfer.pipelines.feedback.status import fetch_metrics, parse_status
from streaminfer.pipelines.lifecycle.registry import Lineage, Registry
from streaminfer.waiting import wait_until
from tests.fixtures.feedback import feedback_section, label_values
from tests.fixtures.streams import events_of

pytestmark = pytest.mark.integration
ONE_CLASS, DRIFTED, SHADOWED, AFTER = 200, 250, 120, 100  # events per phase


def test_the_pipeline_retrains_shadows_promotes_and_serves_by_itself(
    registry: Registry, model_factory: Callable[[str], Path],
    dataset_factory: Callable[[str], Dataset], pipeline_factory: Callable[..., Any],
    produce: Callable[..., None], read_topic: Callable[..., list[Record]],
    topic_factory: Callable[..., str],
) -> None:
    bc = dataset_factory("breast_cancer")
    registry.register_model("bc", model_factory("breast_cancer"), metrics={},
                            lineage=Lineage("import"))
    registry.set_alias("bc", "champion", "1")
    feedback = feedback_section()
    running = pipeline_factory(
        model_options={"path": "models:/bc@champion"}, partitions=2,
        registry={"tracking_uri": registry.uri, "cache_dir": str(registry.cache_dir)},
        feedback=feedback,
        retrain={"estimator": {"class_path": "sklearn.linear_model.LogisticRegression",
                               "params": {"max_iter": 1000}, "standardize": True},
                 "source": {"topic": feedback["training_topic"], "read_timeout_s": 60},
                 "min_examples": 50, "gate": [{"metric": "accuracy", "max_drop": 0.0}],
                 "when": {"enabled": True, "every_examples": 200, "cooldown_s": 1,
                          "then": "shadow", "check_every_s": 0.5}},
        rollout={"poll_interval_s": 0.5, "alerts_topic": topic_factory(1, prefix="alerts"),
                 "promote": {"metric": "accuracy", "min_gain": 0.1, "min_examples": 100}})
    pipe = running.pipeline

    def phase(data: Dataset, start: int, count: int, *, labels: bool = True) -> None:
        keys, values = events_of(data, count, start=start)
        produce(running.source_topic, values, keys)
        if labels:  # the concept flipped: the true label is now 1 - y
            flipped = [1 - int(data.y[i % len(data.y)]) for i in range(start, start + count)]
            produce(feedback["labels_topic"],
                    *label_values([f"e{i}" for i in range(start, start + count)], flipped))

    def kinds() -> list[str]:
        return [a["kind"] for a in pipe.actions()]

    # 1. Benign rows only: their flipped labels are all 0, one class: the retraining fails.
    benign = Dataset(bc.features, bc.X[bc.y == 1], bc.y[bc.y == 1])
    phase(benign, 0, ONE_CLASS)
    assert wait_until(lambda: kinds()[:2] == ["retrain", "candidate"], 120)
    failed = pipe.actions()[1]
    assert failed["version"] is None and "only one class" in failed["message"]
    assert "200 new labelled examples" in pipe.actions()[0]["message"]
    # 2. The pipeline goes on; 250 more examples: the second retraining passes the gate and
    # the candidate shadows.
    phase(bc, ONE_CLASS, DRIFTED)
    assert wait_until(lambda: pipe.models()[0].mode == "shadow", 120)
    [state] = pipe.models()
    candidate = state.candidate
    assert candidate == "2" and state.version == "1" and state.retrains == 2
    assert "gate passed" in pipe.actions()[3]["message"]
    # 3. The shadow's live metrics come from its own predictions joined to the labels.
    start = ONE_CLASS + DRIFTED
    phase(bc, start, SHADOWED)
    assert wait_until(lambda: pipe.models()[0].version == candidate, 120)
    live = pipe.feedback()
    assert live is not None
    shadow_live = live.live[("bc", candidate)]
    assert shadow_live["examples"] >= 100 and shadow_live["accuracy"] > 0.8
    assert live.live[("bc", "1")]["accuracy"] < 0.5
    shown = parse_status(fetch_metrics(str(pipe.metrics_url))).feedback
    assert shown is not None and ("bc", candidate) in shown.live
    # 4. Served now: the next events are answered by the candidate.
    phase(bc, start + SHADOWED, AFTER, labels=False)
    check_served(running, feedback["training_topic"], read_topic, candidate)
    check_actions(running, read_topic, candidate)
    assert registry.aliases("bc") == {"champion": candidate, "previous": "1"}


def check_served(running: Any, training_topic: str, read_topic: Callable[..., list[Record]],
                 candidate: str) -> None:
    """Every event once, one switch per partition, the last ones by the candidate; one
    example per labelled event, named as served; the shadow topic holds the candidate's."""
    start = ONE_CLASS + DRIFTED
    total = start + SHADOWED + AFTER
    predictions = [orjson.loads(r.value) for r in read_topic(running.predictions_topic, total)
                   if r.value is not None]
    assert sorted(p["id"] for p in predictions) == sorted(f"e{i}" for i in range(total))
    by_partition: dict[int, list[str]] = {}
    for p in predictions:
        by_partition.setdefault(p["source"]["partition"], []).append(p["model_version"])
    for versions in by_partition.values():  # v1 ... v1, v2 ... v2: one switch per partition
        assert versions == sorted(versions, key=lambda v: v != "1")
    last = [p for p in predictions if int(p["id"][1:]) >= start + SHADOWED]
    assert {p["model_version"] for p in last} == {candidate}
    # The shadow joiners publish nothing: one example per labelled event, named as served.
    served = {p["id"]: p["model_version"] for p in predictions}
    examples = [orjson.loads(r.value) for r in
                read_topic(training_topic, start + SHADOWED) if r.value is not None]
    assert sorted(e["id"] for e in examples) == sorted(f"e{i}" for i in range(start + SHADOWED))
    assert all(e["model_version"] == served[e["id"]] for e in examples)
    shadow_topic = running.spec.rollout.shadow_topic_for(running.predictions_topic)
    shadowed = [orjson.loads(r.value) for r in read_topic(shadow_topic, 100)
                if r.value is not None]
    assert {p["model_version"] for p in shadowed} == {candidate}


def check_actions(running: Any, read_topic: Callable[..., list[Record]],
                  candidate: str) -> None:
    """Every action in order, on the alerts topic as in actions(), and counted."""
    pipe = running.pipeline
    expected = ["retrain", "candidate", "retrain", "candidate", "shadow", "promote", "swap"]
    assert [a["kind"] for a in pipe.actions()] == expected
    alerts = [orjson.loads(r.value) for r in
              read_topic(running.spec.rollout.alerts_topic, len(expected), timeout_s=20)
              if r.value is not None]
    assert alerts == pipe.actions()
    counted = {(s.labels["kind"], s.value) for family in
               text_string_to_metric_families(fetch_metrics(str(pipe.metrics_url)))
               for s in family.samples if s.name == "streaminfer_rollout_actions_total"}
    assert counted == {("retrain", 2), ("candidate", 2), ("shadow", 1), ("promote", 1),
                       ("swap", 1)}
    promote = alerts[5]
    assert promote["version"] == candidate and promote["value"] >= promote["threshold"] + 0.1
