"""MicroBatcher with an injected clock: size and wait triggers, time_left, drain, room.

Times are multiples of 1/8 s so every sum is exact in binary floating point.
"""

from __future__ import annotations

import pytest

from streaminfer.operators.batcher import MicroBatcher


class FakeClock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_an_empty_batcher_is_never_ready(clock: FakeClock) -> None:
    batcher: MicroBatcher[int] = MicroBatcher(max_size=3, max_wait_ms=250, clock=clock)
    assert len(batcher) == 0
    assert batcher.room == 3
    assert batcher.time_left() is None
    assert not batcher.ready()
    clock.now += 1000
    assert not batcher.ready()
    assert batcher.drain() == []


def test_a_full_batch_is_ready_at_once(clock: FakeClock) -> None:
    batcher: MicroBatcher[int] = MicroBatcher(max_size=3, max_wait_ms=250, clock=clock)
    batcher.add([1, 2])
    assert not batcher.ready()
    batcher.add([3])
    assert batcher.ready()
    assert batcher.time_left() == 0.25  # full, although no time has passed
    assert batcher.drain() == [1, 2, 3]


def test_a_partial_batch_is_ready_when_its_wait_is_over(clock: FakeClock) -> None:
    batcher: MicroBatcher[str] = MicroBatcher(max_size=100, max_wait_ms=250, clock=clock)
    batcher.add(["a"])
    assert batcher.time_left() == 0.25
    clock.now = 100.125
    assert batcher.time_left() == 0.125
    assert not batcher.ready()
    clock.now = 100.25
    assert batcher.time_left() == 0.0
    assert batcher.ready()
    clock.now = 107.0
    assert batcher.time_left() == 0.0  # never negative
    assert batcher.ready()


def test_the_wait_starts_with_the_first_item_not_the_last(clock: FakeClock) -> None:
    batcher: MicroBatcher[int] = MicroBatcher(max_size=100, max_wait_ms=250, clock=clock)
    batcher.add([1])
    clock.now = 100.125
    batcher.add([2, 3])
    assert batcher.time_left() == 0.125  # still counted from the first item at 100.0
    clock.now = 100.25
    assert batcher.ready()


def test_adding_nothing_does_not_open_a_batch(clock: FakeClock) -> None:
    batcher: MicroBatcher[int] = MicroBatcher(max_size=10, max_wait_ms=250, clock=clock)
    batcher.add([])
    assert batcher.time_left() is None
    clock.now = 105.0
    batcher.add([1])
    assert batcher.time_left() == 0.25  # opened at 105.0, when the first item came
    clock.now = 105.125
    assert not batcher.ready()


def test_drain_empties_and_the_next_batch_waits_from_its_own_first_item(clock: FakeClock) -> None:
    batcher: MicroBatcher[int] = MicroBatcher(max_size=10, max_wait_ms=250, clock=clock)
    batcher.add([1, 2])
    clock.now = 100.25
    assert batcher.ready()
    assert batcher.drain() == [1, 2]
    assert len(batcher) == 0
    assert batcher.time_left() is None
    assert not batcher.ready()

    clock.now = 200.0
    batcher.add([3])
    assert batcher.time_left() == 0.25
    assert not batcher.ready()
    assert batcher.drain() == [3]


def test_room_counts_what_still_fits(clock: FakeClock) -> None:
    batcher: MicroBatcher[int] = MicroBatcher(max_size=5, max_wait_ms=250, clock=clock)
    assert batcher.room == 5
    batcher.add([1, 2])
    assert batcher.room == 3 and len(batcher) == 2
    batcher.add([3, 4, 5])
    assert batcher.room == 0 and batcher.ready()
    batcher.drain()
    assert batcher.room == 5


def test_items_keep_their_order_and_any_iterable_is_accepted(clock: FakeClock) -> None:
    batcher: MicroBatcher[int] = MicroBatcher(max_size=100, max_wait_ms=250, clock=clock)
    batcher.add(iter([5, 1]))
    batcher.add(x * 10 for x in range(3))
    batcher.add((7,))
    assert batcher.drain() == [5, 1, 0, 10, 20, 7]


def test_zero_wait_makes_any_batch_ready(clock: FakeClock) -> None:
    batcher: MicroBatcher[int] = MicroBatcher(max_size=100, max_wait_ms=0, clock=clock)
    assert not batcher.ready()
    batcher.add([1])
    assert batcher.time_left() == 0.0
    assert batcher.ready()

