"""Restore a joiner's memory of what it joined: the ids on its partitions of the training topic.

The training topic is the joiner's changelog: partition i of it receives the examples of
partition i of the predictions, written only by the joiner that owns i, acknowledged before
any input offset is committed. So what a partition holds is exactly what was published, and
reading it from the restore start (committed by the joiner with its input offsets, see
:class:`~streaminfer.operators.join_state.RestoreStart`) up to its high watermark gives every
id whose prediction may be read again. The end is the high watermark of the fetch responses
(``consumer.highwater``), not ``end_offsets()``, which the embedded broker answers up to one
record batch short.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from streaminfer.errors import BrokerError
from streaminfer.waiting import wait_until

POLL_RECORDS = 5_000


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
    consumer = KafkaConsumer(**config, group_id=None, enable_auto_commit=False,
                             fetch_max_wait_ms=100, auto_offset_reset="earliest")
    try:
        tps = [TopicPartition(topic, p) for p in sorted(starts)]
        consumer.assign(tps)
        first = consumer.beginning_offsets(tps)
        for tp in tps:
            restored.starts[tp.partition] = max(starts[tp.partition], first[tp])
            consumer.seek(tp, restored.starts[tp.partition])

        def read_some() -> bool:
            batches = consumer.poll(timeout_ms=200, max_records=POLL_RECORDS)
            for tp in tps:
                high = consumer.highwater(tp)
                if tp.partition not in restored.ends and high is not None:
                    restored.ends[tp.partition] = max(high, restored.starts[tp.partition])
            for tp, records in batches.items():
                end = restored.ends.get(tp.partition)
                for record in records:
                    if end is None or record.offset < end:
                        key = id_of(record.value)
                        if key is not None:
                            restored.ids.add(key)
            done = [tp for tp in tps if tp.partition in restored.ends
                    and consumer.position(tp) >= restored.ends[tp.partition]]
            consumer.pause(*done)
            return len(done) == len(tps)

        if not wait_until(read_some, timeout_s, every_s=0.0):
            missing = sorted(tp.partition for tp in tps if tp.partition not in restored.ends
                             or consumer.position(tp) < restored.ends[tp.partition])
            raise BrokerError(f"restoring the joiner from {topic}: partitions {missing} not "
                              f"read to their high watermark within {timeout_s:.0f}s")
    finally:
        consumer.close(autocommit=False)
    return restored
