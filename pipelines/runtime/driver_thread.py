"""One policy for the driver's threads (pool monitor, autoscaler, alias follower, automatic
retraining, feedback monitor).

A :class:`DriverThread` runs a step on a period. When a step raises, the error is logged at
WARNING naming what stopped working and why, kept (:attr:`DriverThread.last_error`: text
and time, for the pipeline's stats, ``streaminfer status`` and the live view) and the thread
goes on with the next step. The same error again is logged at DEBUG; the first good step
after an error is logged at INFO.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ThreadError:
    """The last error of a driver thread."""

    thread: str  # what the thread does, as users read it ("alias follower")
    error: str  # "<type>: <message>"
    at: float  # Unix time
    count: int  # errors so far

    def describe(self, now: float | None = None) -> str:
        """One line: ``alias follower failed 3 time(s), last 12s ago: RayActorError: ...``."""
        ago = max(0.0, (time.time() if now is None else now) - self.at)
        return (f"{self.thread} failed {self.count} time(s), last {ago:.0f}s ago: "
                f"{self.error}")


def error_text(exc: BaseException) -> str:
    """An exception as one line: its type and its message's last line."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[-1]}" if lines else type(exc).__name__


class DriverThread:
    """Runs ``step`` every ``every_s`` in a daemon thread named ``name`` until :meth:`stop`;
    ``what`` says what it does in log lines and stats. ``first_wait``: wait one period
    before the first step. ``on_exit`` runs in the thread when it ends."""

    def __init__(self, name: str, what: str, every_s: float, step: Callable[[], object], *,
                 first_wait: bool = True, on_exit: Callable[[], None] | None = None) -> None:
        self.name, self.what, self.every_s = name, what, every_s
        self._step, self._first_wait, self._on_exit = step, first_wait, on_exit
        self.steps = 0
        self.errors = 0
        self.last_error: ThreadError | None = None
        self._failing = False
        self._stop = threading.Event()
        self._stepped = threading.Condition()
        self._thread: threading.Thread | None = None

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> DriverThread:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> bool:
        """Ask the thread to end and wait up to ``timeout_s``; whether it ended."""
        self._stop.set()
        thread = self._thread
        if thread is None:
            if self._on_exit is not None:
                self._on_exit()
            return True
        thread.join(timeout_s)
        return not thread.is_alive()

    def run_step(self) -> bool:
        """One step under the policy; whether it went through."""
        try:
            self._step()
        except Exception as exc:
            self._failed(exc)
            ok = False
        else:
            if self._failing:
                log.info("%s works again", self.what)
            self._failing = False
            ok = True
        with self._stepped:
            self.steps += 1
            self._stepped.notify_all()
        return ok

    def _failed(self, exc: Exception) -> None:
        text = error_text(exc)
        self.errors += 1
        again = self._failing and self.last_error is not None and self.last_error.error == text
        self.last_error = ThreadError(self.what, text, time.time(), self.errors)
        self._failing = True
        if again or self.stopping:  # the same again, or Ray going away during a stop
            log.debug("%s failed again: %s", self.what, text)
            return
        log.warning("%s stopped working: %s; trying again in %gs", self.what, text,
                    self.every_s)
        log.debug("%s: the error's traceback", self.what, exc_info=exc)

    def wait_for(self, predicate: Callable[[], bool], timeout_s: float) -> bool:
        """Wait until ``predicate()`` holds, looking again after each step."""
        with self._stepped:
            return self._stepped.wait_for(predicate, timeout_s)

    def _run(self) -> None:
        try:
            if self._first_wait and self._stop.wait(self.every_s):
                return
            while not self._stop.is_set():
                self.run_step()
                if self._stop.wait(self.every_s):
                    return
        finally:
            if self._on_exit is not None:
                self._on_exit()
