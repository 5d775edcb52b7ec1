"""A crashed loop tells why with its counters and ends its process once the driver read it
(the process's end is recorded here instead of taken)."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest

from streaminfer.pipelines.runtime import loop_actor
from streaminfer.pipelines.runtime.loop_actor import LoopActor
from streaminfer.waiting import wait_until


@dataclass
class Counts:
    events_in: int
    crashed: str | None = None


@dataclass
class Plain:
    events_in: int


class CrashingLoop:
    def __init__(self, counts: type) -> None:
        self.counts = counts

    def run(self) -> None:
        {}["label"]  # the crash

    def request_stop(self) -> None: ...

    def close(self) -> None: ...

    def stats(self, families: bool = True) -> Any:
        return self.counts(7)


@pytest.fixture
def exits(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    ended: list[int] = []
    monkeypatch.setattr(loop_actor, "os", SimpleNamespace(_exit=ended.append))
    monkeypatch.setattr(loop_actor, "freeze_heap", lambda: None)  # not this process's heap
    return ended


def test_a_crashed_loop_says_why_and_ends_once_the_driver_read_it(exits: list[int]) -> None:
    actor: LoopActor[Any, Any] = LoopActor()
    actor._start(lambda: CrashingLoop(Counts), "loop-w")
    assert wait_until(lambda: actor.stats().crashed is not None, 10)
    stats = actor.stats()
    assert stats.events_in == 7
    assert stats.crashed.startswith("KeyError: 'label' (in ")  # this test's file, here
    assert exits == [] and actor._thread.is_alive()  # waits for the driver
    actor.crash_read()
    assert wait_until(lambda: exits == [1], 10)


def test_a_loop_whose_counters_carry_no_crash_ends_at_once(exits: list[int]) -> None:
    actor: LoopActor[Any, Any] = LoopActor()
    actor._start(lambda: CrashingLoop(Plain), "loop-j")
    assert wait_until(lambda: exits == [1], 5)
    assert actor.crash is not None and not hasattr(actor.stats(), "crashed")
