"""What the retraining thread hands the rule, against a real SQLite registry: new examples
past the champion's data range and the last start, drift alerts since the last start, the
serving version's live metrics; the cooldown from the last start."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from streaminfer.pipelines.lifecycle.registry import Lineage, Registry
from streaminfer.pipelines.rollout.actions import ActionLog
from streaminfer.pipelines.rollout.auto_retrain import AutoRetrain, Sources
from streaminfer.pipelines.spec.schema import PipelineSpec

SPEC = PipelineSpec.model_validate({
    "name": "p", "kafka": {"bootstrap_servers": "127.0.0.1:9"},
    "source": {"topics": ["events"], "group_id": "g", "features": ["a"]},
    "model": {"path": "models:/bc@champion"},
    "sink": {"predictions_topic": "preds", "dead_letter_topic": "dlq"},
    "retrain": {"estimator": {"class_path": "sklearn.linear_model.LogisticRegression"},
                "source": {"topic": "t"},
                "when": {"enabled": True, "every_examples": 50, "cooldown_s": 60}},
})


def test_the_state_counts_from_the_later_mark_and_the_last_start(
    registry: Registry, model_factory: Callable[[str], Path],
) -> None:
    registry.register_model("bc", model_factory("breast_cancer"), metrics={},
                            lineage=Lineage("retrain", data_range={
                                "topic": "t", "partitions": {"0": [0, 50], "1": [0, 10]}}))
    registry.set_alias("bc", "champion", "1")
    drift = {"1": 3}
    sources = Sources(ends=lambda: {0: 120, 1: 10}, serving=lambda: "1",
                      drift_alerts=lambda v: drift.get(v, 0),
                      live=lambda v: {"accuracy": 0.7, "examples": 300} if v == "1" else {})
    thread = AutoRetrain(SPEC, "bc", "bc", registry, sources, ActionLog(None))
    state = thread.policy_state({0: 120, 1: 10}, "1")
    assert (state.new_examples, state.drift_alerts) == (70, 3)
    assert state.live["accuracy"] == 0.7 and state.since_last_s == float("inf")
    thread.state.seen, thread.state.drift_seen = {0: 100, 1: 10}, {"1": 1}
    thread.state.started_s = 0.0  # long ago on the monotonic clock
    state = thread.policy_state({0: 120, 1: 10}, "1")
    assert (state.new_examples, state.drift_alerts) == (20, 2)
    assert state.since_last_s > 0
    assert thread.state.running is None and not thread.running
