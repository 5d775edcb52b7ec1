"""Micro-batching: a batch closes when it holds max_size records or max_wait_ms has passed."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


class MicroBatcher(Generic[T]):
    """Collects items; the wait starts with the first item of a batch.

    >>> b = MicroBatcher(max_size=2, max_wait_ms=50, clock=lambda: 0.0)
    >>> b.add([1, 2]); b.ready()
    True
    >>> b.drain()
    [1, 2]
    """

    def __init__(
        self, max_size: int, max_wait_ms: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_size = max_size
        self.max_wait = max_wait_ms / 1000.0
        self._clock = clock
        self._items: list[T] = []
        self._opened_at = 0.0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def room(self) -> int:
        """How many more items fit in this batch."""
        return self.max_size - len(self._items)

    def add(self, items: Iterable[T]) -> None:
        was_empty = not self._items
        self._items.extend(items)
        if was_empty and self._items:
            self._opened_at = self._clock()

    def time_left(self) -> float | None:
        """Seconds until the open batch is due; ``None`` when there is none."""
        if not self._items:
            return None
        return max(0.0, self._opened_at + self.max_wait - self._clock())

    def ready(self) -> bool:
        """True when the batch is full or its wait is over."""
        if not self._items:
            return False
        return len(self._items) >= self.max_size or self.time_left() == 0.0

    def drain(self) -> list[T]:
        """Take every item collected so far."""
        items, self._items = self._items, []
        return items
