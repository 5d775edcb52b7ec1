"""How Ray is started (pure): the CPUs a local Ray gets (every actor and task a pipeline may
run), the cluster joined, and whether the actors' lines reach the driver's screen."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from streaminfer.pipelines.process.log_levels import RAY_TOKEN_NOTE, VERBOSE_ENV
from streaminfer.pipelines.runtime.ray_setup import cpus_needed, init_options, start_ray
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


def test_actors_lines_reach_a_screen_only_when_verbose_and_a_log_always() -> None:
    """Quiet on a terminal, a crash reaches the screen once through the pools' crash
    reporting; the actor's own lines ("(SourceWorker pid=...) ...") would print into the live
    view. Into a log (a pod's, a file), a worker's warnings are what an operator reads."""
    def forwarded(verbose: bool, terminal: bool) -> bool:
        return bool(init_options(spec(), verbose=verbose, joins=False, cpus=4,
                                 terminal=terminal)["log_to_driver"])

    assert not forwarded(verbose=False, terminal=True)
    assert forwarded(verbose=True, terminal=True)
    assert forwarded(verbose=False, terminal=False)


def test_a_local_ray_gets_the_cpus_a_named_cluster_or_ray_address_is_joined() -> None:
    local = init_options(spec(), verbose=False, joins=False, cpus=1)
    assert local["num_cpus"] == 1 and "address" not in local
    assert init_options(spec(workers={"count": 8, "num_cpus": 1.0}), verbose=False,
                        joins=False, cpus=2)["num_cpus"] == 8
    joined = init_options(spec(), verbose=False, joins=True, cpus=4)
    assert "num_cpus" not in joined and "address" not in joined  # ray.init reads RAY_ADDRESS
    named = init_options(spec(ray={"address": "10.0.0.1:6379"}), verbose=False, joins=True,
                         cpus=4)
    assert named["address"] == "10.0.0.1:6379" and "num_cpus" not in named


def test_ray_s_token_note_stays_off_the_screen_while_a_local_ray_starts_unless_verbose(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """From Python too (the README's snippet), not only from the CLI; the logger's own level
    comes back after. ``ray.init`` stands in for Ray here: what it logs is the point. The
    records are caught on the note's own logger: once Ray has run in this process its
    loggers do not propagate to the root."""
    import ray

    note = logging.getLogger(RAY_TOKEN_NOTE)

    def init(**_: Any) -> None:
        note.warning("Token authentication is enabled")

    class Caught(logging.Handler):
        def __init__(self) -> None:
            super().__init__(logging.DEBUG)
            self.records: list[logging.LogRecord] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.records.append(record)

    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    earlier = note.level  # a CLI test in this process may have set it
    # Its own level, so that what other tests left on Ray's loggers does not decide.
    note.setLevel(logging.DEBUG)
    caught = Caught()
    note.addHandler(caught)
    try:
        for verbose, shown in ((False, 0), (True, 1)):
            monkeypatch.setenv(VERBOSE_ENV, "1" if verbose else "0")
            caught.records.clear()
            assert start_ray(spec()) is True
            assert len(caught.records) == shown
            assert note.level == logging.DEBUG
    finally:
        note.removeHandler(caught)
        note.setLevel(earlier)
