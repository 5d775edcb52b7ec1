"""What an automatic retraining says when it ends (the ``candidate`` alert), and the log
that keeps and publishes every rollout action."""

from __future__ import annotations

import pytest

from streaminfer.errors import DataError
from streaminfer.pipelines.lifecycle.gate import GateResult
from streaminfer.pipelines.lifecycle.registry import ModelVersion
from streaminfer.pipelines.lifecycle.retrain import RetrainResult
from streaminfer.pipelines.lifecycle.retrain_outcome import candidate_note, failure_reason
from streaminfer.pipelines.rollout.actions import ActionLog


def version(number: str, aliases: tuple[str, ...] = ()) -> ModelVersion:
    return ModelVersion("bc", number, "ab" * 32, "file:///x", None, 0, aliases)


def result(passed: bool) -> RetrainResult:
    gate = GateResult(True) if passed else GateResult(False, ("accuracy 0.7 is below ...",))
    return RetrainResult(version("3", ("challenger",) if passed else ()),
                         {"accuracy": 0.95, "roc_auc": 0.99}, version("1"),
                         {"accuracy": 0.60, "roc_auc": 0.7}, gate, 400, 100, 0)


def test_a_passed_candidate_says_its_aliases_and_numbers_against_the_champion() -> None:
    note = candidate_note(result(True), "roc_auc", "shadow")
    assert (note.version, note.metric, note.value, note.threshold) == ("3", "roc_auc", 0.99,
                                                                      0.7)
    assert note.window == "100 holdout examples"
    assert note.message.startswith("version 3 trained on 400 examples, gate passed: "
                                   "registered as challenger and set as the shadow")
    assert "(champion version 1: 0.7000)" in note.message


def test_a_rejected_candidate_says_why_and_defaults_to_accuracy() -> None:
    note = candidate_note(result(False), None, "register")
    assert note.metric == "accuracy" and "gate rejected it: accuracy 0.7" in note.message


def test_a_regressor_candidate_defaults_to_the_tables_primary_metric() -> None:
    regressor = RetrainResult(version("3", ("challenger",)), {"mae": 2.0, "rmse": 3.0, "r2": 0.5},
                              version("1"), {"mae": 2.5, "rmse": 3.5, "r2": 0.4},
                              GateResult(True), 400, 100, 0)
    note = candidate_note(regressor, None, "register")
    assert (note.metric, note.value, note.threshold) == ("rmse", 3.0, 3.5)


class Wrapped(Exception):
    """Like Ray's task error: the original exception as ``cause``."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__("Traceback ...\nlong text")
        self.cause = cause


def test_a_failure_is_one_line_naming_the_cause() -> None:
    assert failure_reason(Wrapped(DataError("only one class (0)"))) == "only one class (0)"
    assert failure_reason(Wrapped(ValueError("bad\nlast line"))) == "ValueError: last line"
    assert failure_reason(RuntimeError()) == "RuntimeError: no message"


def test_the_action_log_keeps_the_newest_actions_in_order() -> None:
    log = ActionLog(None, keep=3)
    for i in range(5):
        log.record("swap", "bc", str(i), f"to {i}")
    kept = log.recent()
    assert [a["version"] for a in kept] == ["2", "3", "4"]
    assert set(kept[0]) == {"kind", "model", "version", "metric", "value", "threshold",
                            "window", "ts", "message"}
    assert kept[0]["value"] is None


@pytest.mark.parametrize("then", ["register", "shadow", "canary"])
def test_then_is_said_for_a_shadow_or_a_canary(then: str) -> None:
    note = candidate_note(result(True), None, then)
    assert ("set as the" in note.message) == (then != "register")
    assert (f"set as the {then}" in note.message) == (then != "register")


def test_the_action_log_counts_each_kind_per_model() -> None:
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry()
    log = ActionLog(None, registry=registry)
    for kind in ("retrain", "candidate", "retrain"):
        log.record(kind, "bc", None, "m")
    labels = {"model": "bc", "kind": "retrain"}
    assert registry.get_sample_value("streaminfer_rollout_actions_total", labels) == 2
