"""The driver threads' one error policy: a failed step is logged at WARNING naming what
stopped working and why, kept (text, time, count), and the thread goes on."""

from __future__ import annotations

import logging
import threading

import pytest

from streaminfer.pipelines.runtime.driver_thread import DriverThread, ThreadError, error_text

LOGGER = "streaminfer.pipelines.runtime.driver_thread"


class Steps:
    """A step that raises what ``errors`` holds next (``None``: it goes through)."""

    def __init__(self, *errors: Exception | None) -> None:
        self.errors = list(errors)
        self.done = 0

    def __call__(self) -> None:
        error = self.errors.pop(0) if self.errors else None
        if error is not None:
            raise error
        self.done += 1


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == LOGGER and r.levelno == logging.WARNING]


def test_an_error_is_logged_kept_and_the_thread_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    step = Steps(RuntimeError("the store died\nActorDiedError: the actor died"), None)
    thread = DriverThread("t", "alias follower", 0.01, step).start()
    try:
        assert thread.wait_for(lambda: step.done >= 3, 10)
    finally:
        assert thread.stop(5)
    assert warnings(caplog) == ["alias follower stopped working: RuntimeError: ActorDiedError: "
                                "the actor died; trying again in 0.01s"]
    assert [r.getMessage() for r in caplog.records
            if r.levelno == logging.INFO] == ["alias follower works again"]
    error = thread.last_error
    assert error is not None and (error.thread, error.count) == ("alias follower", 1)
    assert error.error == "RuntimeError: ActorDiedError: the actor died"
    assert thread.errors == 1 and not thread.alive


def test_the_same_error_again_is_not_repeated_at_warning_and_a_new_one_is(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    boom, other = ValueError("boom"), KeyError("other")
    thread = DriverThread("t", "automatic retraining", 60, Steps(boom, boom, boom, other))
    assert [thread.run_step() for _ in range(5)] == [False, False, False, False, True]
    assert warnings(caplog) == [
        "automatic retraining stopped working: ValueError: boom; trying again in 60s",
        "automatic retraining stopped working: KeyError: 'other'; trying again in 60s"]
    assert thread.last_error is not None and thread.last_error.count == 4
    assert thread.steps == 5


def test_a_step_that_raises_base_exception_subclasses_of_exception_only() -> None:
    # KeyboardInterrupt and SystemExit are not steps failing: they end the thread.
    thread = DriverThread("t", "x", 60, Steps(KeyboardInterrupt()))  # type: ignore[arg-type]
    with pytest.raises(KeyboardInterrupt):
        thread.run_step()


def test_stop_is_prompt_runs_on_exit_once_and_first_wait_is_honoured() -> None:
    exits: list[str] = []
    stepped = threading.Event()
    waits = DriverThread("t", "x", 600, stepped.set, on_exit=lambda: exits.append("a"))
    waits.start()
    assert waits.stop(5) and not stepped.is_set() and exits == ["a"]  # never stepped
    at_once = DriverThread("t", "x", 600, stepped.set, first_wait=False,
                           on_exit=lambda: exits.append("b")).start()
    assert stepped.wait(5)
    assert at_once.stop(5) and exits == ["a", "b"]
    never = DriverThread("t", "x", 600, stepped.set, on_exit=lambda: exits.append("c"))
    assert never.stop(1) and exits == ["a", "b", "c"]  # never started: on_exit still runs


def test_the_error_line() -> None:
    assert error_text(ValueError("")) == "ValueError"
    error = ThreadError("worker monitor", "OSError: gone", at=100.0, count=3)
    assert error.describe(now=112.4) == ("worker monitor failed 3 time(s), last 12s ago: "
                                         "OSError: gone")
