"""Restore a joiner's memory of what it joined: the ids on its partitions of the training topic.

The training topic is the joiner's changelog: partition i of it receives the examples of
partition i of the predictions, written only by the joiner that owns i, acknowledged before
any input offset is committed. So what a partition holds is exactly what was published, and
reading it from the restore start (committed by the joiner with its input offsets, see
:class:`~streaminfer.operators.join_state.RestoreStart`) up to its high watermark gives every
id whose prediction may be read again. The reading is :func:`read_range`'s: up to the high
watermark of the fetch responses, not ``end_offsets()`` (the embedded broker answers that up
to one record batch short), keeping ids, not records.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from streaminfer.operators.records import Record
from streaminfer.pipelines.kafka.range_reader import read_range


@dataclass
class Restored:
    """What a restore read: the published ids, and per partition where it started and the
    high watermark it read up to."""

    ids: set[Hashable] = field(default_factory=set)
    starts: dict[int, int] = field(default_factory=dict)
    ends: dict[int, int] = field(default_factory=dict)

    @property
    def examples(self) -> int:
        """Records read."""
        return sum(self.ends[p] - self.starts[p] for p in self.ends)


def read_published(config: dict[str, Any], topic: str, starts: dict[int, int],
                   id_of: Callable[[bytes | None], Hashable | None],
                   timeout_s: float = 120.0) -> Restored:
    """The ids (``id_of(value)``; None: skipped) of every record of ``topic``'s partitions
    ``starts`` from their start offset up to the high watermark of the first fetch."""
    restored = Restored()
    if not starts:
        return restored

    def keep(records: list[Record]) -> None:
        for record in records:
            key = id_of(record.value)
            if key is not None:
                restored.ids.add(key)

    _, span = read_range(config, topic, start=starts, partitions=set(starts), each=keep,
                         timeout_s=timeout_s)
    for partition, (first, end) in span.offsets.items():
        restored.starts[partition], restored.ends[partition] = first, end
    return restored
