"""wait_until and backoff_s: the one poll-until helper and the one retry backoff table."""

from __future__ import annotations

import threading
import time

from streaminfer.waiting import RETRY_BACKOFF_S, backoff_s, wait_until


def test_wait_until_returns_as_soon_as_the_condition_holds() -> None:
    calls = iter([False, False, True])
    began = time.monotonic()
    assert wait_until(lambda: next(calls), timeout_s=5, every_s=0.01)
    assert time.monotonic() - began < 1


def test_wait_until_gives_up_after_the_timeout() -> None:
    began = time.monotonic()
    assert not wait_until(lambda: False, timeout_s=0.05, every_s=0.01)
    assert 0.05 <= time.monotonic() - began < 1


def test_a_stop_ends_the_wait_with_one_last_look() -> None:
    stop = threading.Event()
    stop.set()
    looks = []
    assert not wait_until(lambda: bool(looks.append(1)), timeout_s=60, stop=stop)
    assert len(looks) == 2  # the first look, and one after the stop


def test_backoff_grows_then_stays_at_its_last_step() -> None:
    assert [backoff_s(n) for n in range(1, 8)] == [*RETRY_BACKOFF_S, 5.0, 5.0]
