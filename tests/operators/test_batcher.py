"""MicroBatcher with an injected clock: size, bytes and wait triggers, time_left, drain, room.

Times are multiples of 1/8 s so every sum is exact in binary floating point.
"""

from __future__ import annotations

import pytest

from streaminfer.operators.batcher import MicroBatcher, batch_cut


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



def test_a_batch_stops_growing_at_max_bytes_and_the_rest_waits_for_the_next(
    clock: FakeClock,
) -> None:
    batcher: MicroBatcher[bytes] = MicroBatcher(max_size=10, max_wait_ms=250, clock=clock,
                                                max_bytes=100, size=len)
    batcher.add([b"a" * 40, b"b" * 40])
    assert (batcher.room, batcher.held_bytes, batcher.ready()) == (8, 80, False)
    batcher.add([b"c" * 40, b"d" * 10])  # read together: 130 bytes, more than 100
    assert (batcher.room, batcher.ready()) == (0, True)  # no more reading into it
    assert batcher.drain() == [b"a" * 40, b"b" * 40]  # the most that fit in 100 bytes
    assert (len(batcher), batcher.held_bytes) == (2, 50)
    assert batcher.time_left() == 0.25  # the rest is the next batch, as old as it is
    clock.now += 0.25
    assert batcher.ready() and batcher.drain() == [b"c" * 40, b"d" * 10]
    assert not batcher.ready() and batcher.room == 10


def test_an_item_larger_than_max_bytes_is_a_batch_of_its_own(clock: FakeClock) -> None:
    batcher: MicroBatcher[bytes] = MicroBatcher(max_size=10, max_wait_ms=250, clock=clock,
                                                max_bytes=100, size=len)
    batcher.add([b"x" * 500, b"y"])
    assert batcher.drain() == [b"x" * 500]
    assert batcher.drain() == [b"y"]


def test_drain_all_takes_everything_held_whatever_its_bytes(clock: FakeClock) -> None:
    batcher: MicroBatcher[bytes] = MicroBatcher(max_size=10, max_wait_ms=250, clock=clock,
                                                max_bytes=10, size=len)
    batcher.add([b"x" * 8, b"y" * 8, b"z" * 8])
    assert batcher.drain_all() == [b"x" * 8, b"y" * 8, b"z" * 8]
    assert (len(batcher), batcher.held_bytes) == (0, 0)


def test_max_bytes_needs_the_size_of_an_item() -> None:
    with pytest.raises(ValueError, match="size"):
        MicroBatcher(max_size=10, max_wait_ms=250, max_bytes=10)


@pytest.mark.parametrize(("sizes", "max_size", "max_bytes", "cut"), [
    ([], 4, 10, 0), ([3, 3, 3, 3], 4, 10, 3), ([3, 3, 3, 3], 2, 10, 2), ([3, 7], 4, 10, 2),
    ([11, 1], 4, 10, 1), ([5] * 6, 4, None, 4), ([1, 2], 4, None, 2),
])
def test_batch_cut_takes_at_most_max_size_and_max_bytes_but_one(
    sizes: list[int], max_size: int, max_bytes: int | None, cut: int,
) -> None:
    assert batch_cut(sizes, max_size, max_bytes) == cut
