"""SIGINT and SIGTERM mean the same thing everywhere a user stops us: drain, then exit 0.

The first signal sets an event that the foreground loop watches (it then finishes open
batches, commits and leaves the group); a second one raises :class:`KeyboardInterrupt` at
once. ``ray.init`` takes SIGTERM over while it runs: ``runtime/ray_setup.start_ray`` puts
this handler back after it, and makes a SIGTERM meanwhile :class:`~streaminfer.errors.Stopped`.

>>> with StopSignals() as signals:          # doctest: +SKIP
...     start_ray_and_workers()
...     signals.event.wait()
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """Route SIGINT/SIGTERM to :attr:`event` while in use; the old handlers come back after.

    Off the main thread (where Python cannot set handlers) it does nothing.
    """

    def __init__(self, message: str = "stopping: finishing open batches "
                 "(send the signal again to abort)") -> None:
        self.event = threading.Event()
        self.received: int | None = None
        self._message = message
        self._previous: dict[int, Any] = {}

    def install(self) -> StopSignals:
        """Take both signals (again, if something replaced our handler meanwhile)."""
        if threading.current_thread() is not threading.main_thread():
            return self
        for sig in SIGNALS:
            old = signal.signal(sig, self._handle)
            self._previous.setdefault(sig, old)
        return self

    def restore(self) -> None:
        """Put back the handlers that were there before the first :meth:`install`."""
        previous, self._previous = self._previous, {}
        for sig, old in previous.items():
            signal.signal(sig, old)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.event.is_set():
            raise KeyboardInterrupt
        self.received = signum
        log.warning("%s: %s", signal.Signals(signum).name, self._message)
        self.event.set()

    def __enter__(self) -> StopSignals:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.restore()
