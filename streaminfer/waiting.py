"""Waiting, two ways: until a condition holds (polled), and between the attempts of a retry.

>>> wait_until(lambda: True, timeout_s=1.0)
True
>>> [backoff_s(attempt) for attempt in (1, 2, 5, 9)]
[0.1, 0.5, 5.0, 5.0]
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

#: Pause before the retry after the n-th failed attempt (the last one repeats).
RETRY_BACKOFF_S = (0.1, 0.5, 1.0, 2.0, 5.0)


def backoff_s(attempt: int) -> float:
    """The pause after failed attempt number ``attempt`` (1 for the first)."""
    return RETRY_BACKOFF_S[min(max(attempt, 1) - 1, len(RETRY_BACKOFF_S) - 1)]


def wait_until(
    predicate: Callable[[], bool], timeout_s: float, *, every_s: float = 0.1,
    stop: threading.Event | None = None,
) -> bool:
    """Look at ``predicate`` every ``every_s`` until it holds (True), ``timeout_s`` runs out
    or ``stop`` is set (False). For remote state (a consumer group, Serve, a broker) that
    offers nothing to await."""
    pause = stop or threading.Event()
    deadline = time.monotonic() + timeout_s
    while not predicate():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        if pause.wait(min(every_s, left)):  # stopped: one last look
            return predicate()
    return True
