"""The CPUs a local Ray is started with: every actor and task a pipeline may run (pure)."""

from __future__ import annotations

from typing import Any

from streaminfer.pipelines.runtime.ray_setup import cpus_needed
from streaminfer.pipelines.spec.schema import PipelineSpec

FEATURES = ["a", "b"]


def spec(**sections: Any) -> PipelineSpec:
    base: dict[str, Any] = {
        "name": "p", "source": {"topics": ["e"], "group_id": "g", "features": FEATURES},
        "model": {"path": "m.onnx"}, "sink": {"predictions_topic": "p", "dead_letter_topic": "d"},
        "workers": {"count": 2, "num_cpus": 0.5}}
    return PipelineSpec.model_validate({**base, **sections})


FEEDBACK = {"labels_topic": "l", "training_topic": "t", "joiners": {"count": 2, "num_cpus": 0.5}}
RETRAIN = {"estimator": {"class_path": "sklearn.linear_model.LogisticRegression"},
           "source": {"topic": "t"}, "when": {"enabled": True, "num_cpus": 1.0}}


def test_workers_and_joiners_are_counted() -> None:
    assert cpus_needed(spec()) == 1
    assert cpus_needed(spec(feedback=FEEDBACK)) == 2


def test_a_model_following_an_alias_may_run_a_shadow_whose_joiners_are_counted_too() -> None:
    following = spec(feedback=FEEDBACK, model={"path": "models:/m@champion"})
    assert cpus_needed(following) == 3  # 1 for workers, 1 per joiner pool
    pinned = spec(feedback=FEEDBACK, model={"path": "models:/m/3"})
    assert cpus_needed(pinned) == 2


def test_the_automatic_retraining_task_is_counted_when_it_is_on() -> None:
    assert cpus_needed(spec(retrain=RETRAIN)) == 2
    off = {**RETRAIN, "when": {"enabled": False, "num_cpus": 1.0}}
    assert cpus_needed(spec(retrain=off)) == 1
