"""A partition's lag at one moment, and how a partition is named: plain values, no Kafka client.

>>> from collections import namedtuple
>>> partition_name(namedtuple("TP", "topic partition")("events", 3))
'events/3'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class Partition(Protocol):
    """A topic partition (kafka-python's ``TopicPartition`` is one)."""

    @property
    def topic(self) -> str: ...

    @property
    def partition(self) -> int: ...


def partition_name(tp: Partition) -> str:
    """``topic/partition``."""
    return f"{tp.topic}/{tp.partition}"


@dataclass(frozen=True)
class PartitionLag:
    """One partition of a group, at one moment."""

    committed: int | None
    """The group's committed offset (the next record it will read); None: nothing committed."""
    end: int
    """The high watermark: the offset the next record written to the partition will get."""
    lag: int
    """Records the group has not committed yet (``end - committed``; without a committed
    offset, from where the group would start: the log start for ``earliest``, none for
    ``latest``)."""
