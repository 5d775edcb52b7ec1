"""The hand-over to Ray Serve (pure): the installed Ray has the call the served backend relies
on, a Ray without it is said once, and a call no replica took in time is left to ``result``."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from streaminfer.pipelines.runtime import model_backends
from streaminfer.pipelines.runtime.model_backends import HAND_OVER, hand_over


def test_the_installed_ray_serve_has_the_hand_over() -> None:
    from ray.serve.handle import DeploymentResponse

    assert callable(getattr(DeploymentResponse, HAND_OVER, None)), (
        f"Ray Serve renamed DeploymentResponse.{HAND_OVER}: serving gets slower; "
        "find its new name")


class Waits:
    def __init__(self, error: Exception | None = None) -> None:
        self.waited: list[float] = []
        self.error = error

    def _to_object_ref_sync(self, _timeout_s: float) -> None:
        self.waited.append(_timeout_s)
        if self.error is not None:
            raise self.error


def test_the_call_waits_for_a_replica_and_leaves_failures_to_the_result() -> None:
    taken, late = Waits(), Waits(TimeoutError("no replica"))
    assert hand_over(taken, 30.0) is True and taken.waited == [30.0]
    assert hand_over(late, 5.0) is True and late.waited == [5.0]


def test_a_ray_without_the_hand_over_is_said_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(model_backends, "_missing_said", type(model_backends._missing_said)())
    caplog.set_level(logging.WARNING, logger=model_backends.__name__)
    answers: list[Any] = [hand_over(object(), 1.0) for _ in range(3)]
    assert answers == [False, False, False]
    said = [r.getMessage() for r in caplog.records if HAND_OVER in r.getMessage()]
    assert len(said) == 1, said
