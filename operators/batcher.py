"""Micro-batching: a batch closes when it holds max_size records, or max_bytes of them, or
max_wait_ms has passed."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Generic, TypeVar

from streaminfer.operators.records import Record

T = TypeVar("T")


def record_bytes(record: Record) -> int:
    """The bytes a record brings into a batch: its value's (a picture's file, base64)."""
    return len(record.value or b"")


def batch_cut(sizes: Sequence[int], max_size: int, max_bytes: int | None) -> int:
    """How many of the items (their ``sizes`` in bytes, in order) one batch takes: at most
    ``max_size``, and no more than fit in ``max_bytes`` (``None``: no bound) but at least one.

    >>> batch_cut([40, 40, 40], 8, 100), batch_cut([400, 1], 8, 100), batch_cut([1] * 9, 8, None)
    (2, 1, 8)
    """
    if max_bytes is None:
        return min(len(sizes), max_size)
    total = 0
    for count, size in enumerate(sizes[:max_size]):
        total += size
        if total > max_bytes:
            return max(1, count)
    return min(len(sizes), max_size)


class MicroBatcher(Generic[T]):
    """Collects items; the wait starts with the first item of a batch. With ``max_bytes``
    (each item's bytes by ``size``), a batch stops growing at that many bytes: what is read
    beyond them waits for the next batch, which is due as soon as the wait of its oldest
    item is over (an item larger than ``max_bytes`` is a batch of its own).

    >>> b = MicroBatcher(max_size=2, max_wait_ms=50, clock=lambda: 0.0)
    >>> b.add([1, 2]); b.ready()
    True
    >>> b.drain()
    [1, 2]
    >>> b = MicroBatcher(max_size=8, max_wait_ms=50, clock=lambda: 0.0, max_bytes=5, size=len)
    >>> b.add(["abc", "de", "fgh"]); b.ready(), b.room
    (True, 0)
    >>> b.drain(), b.drain()
    (['abc', 'de'], ['fgh'])
    """

    def __init__(
        self, max_size: int, max_wait_ms: int, clock: Callable[[], float] = time.monotonic,
        max_bytes: int | None = None, size: Callable[[T], int] | None = None,
    ) -> None:
        if max_bytes is not None and size is None:
            raise ValueError("max_bytes needs size: the bytes of one item")
        self.max_size = max_size
        self.max_wait = max_wait_ms / 1000.0
        self.max_bytes = max_bytes
        self._size = size
        self._clock = clock
        self._items: list[T] = []
        self._sizes: list[int] = []
        self._opened_at = 0.0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def held_bytes(self) -> int:
        """The bytes of the items held (0 without ``max_bytes``)."""
        return sum(self._sizes)

    def _full(self) -> bool:
        return len(self._items) >= self.max_size or (
            self.max_bytes is not None and self.held_bytes >= self.max_bytes)

    @property
    def room(self) -> int:
        """How many more items fit in this batch (0 once it holds ``max_bytes``)."""
        return 0 if self._full() else self.max_size - len(self._items)

    def add(self, items: Iterable[T]) -> None:
        was_empty = not self._items
        added = list(items)
        self._items.extend(added)
        if self._size is not None and self.max_bytes is not None:
            self._sizes.extend(self._size(item) for item in added)
        if was_empty and self._items:
            self._opened_at = self._clock()

    def time_left(self) -> float | None:
        """Seconds until the open batch is due; ``None`` when there is none."""
        if not self._items:
            return None
        return max(0.0, self._opened_at + self.max_wait - self._clock())

    def ready(self) -> bool:
        """True when the batch is full (count or bytes) or its wait is over."""
        if not self._items:
            return False
        return self._full() or self.time_left() == 0.0

    def drain(self) -> list[T]:
        """Take the batch: every item collected so far, or, with ``max_bytes``, the first
        ones that fit (:func:`batch_cut`); the rest stay, as the next batch."""
        if self.max_bytes is None:
            return self.drain_all()
        cut = batch_cut(self._sizes, self.max_size, self.max_bytes)
        items, self._items = self._items[:cut], self._items[cut:]
        self._sizes = self._sizes[cut:]
        return items

    def drain_all(self) -> list[T]:
        """Take every item held (to finish, or hand back, everything)."""
        items, self._items, self._sizes = self._items, [], []
        return items
