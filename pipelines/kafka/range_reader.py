"""Read an exact offset range of a topic, outside any consumer group (retraining and
offline validation read their labelled examples this way).

The end of a partition is its exact end when the read starts
(:func:`~streaminfer.pipelines.kafka.topic_metadata.exact_end_offsets`: the high watermark, not
``end_offsets()``, which the embedded broker answers up to one record batch short). Records
arriving after that are left for the next range.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from kafka import TopicPartition

from streaminfer.errors import BrokerError
from streaminfer.operators.records import Record
from streaminfer.pipelines.kafka.factory import new_consumer
from streaminfer.pipelines.kafka.topic_metadata import exact_end_offsets, wait_for_partitions
from streaminfer.waiting import wait_until


@dataclass(frozen=True)
class ReadSpan:
    """What was read: ``{partition: (first offset, offset after the last)}``."""

    topic: str
    offsets: dict[int, tuple[int, int]]

    def as_dict(self) -> dict[str, Any]:
        return {"topic": self.topic,
                "partitions": {str(p): list(span) for p, span in sorted(self.offsets.items())}}


def read_range(
    config: dict[str, Any], topic: str, *, start: Mapping[int, int] | int | None = None,
    end: Mapping[int, int] | int | None = None, timeout_s: float = 120.0,
    progress: Callable[[int], None] | None = None, partitions: Collection[int] | None = None,
    each: Callable[[list[Record]], None] | None = None,
) -> tuple[list[Record], ReadSpan]:
    """Every record of ``topic`` from ``start`` (default: the beginning) up to ``end``
    (default: the exact end when the read starts; an end beyond it stops there), in offset
    order per partition.

    ``start`` and ``end`` are offsets by partition, or one offset for every partition;
    ``partitions`` reads only those. With ``each``, the records go to it as they arrive (in
    offset order per partition) and none is kept: the list returned is empty."""
    consumer = new_consumer(config, fetch_max_wait_ms=100, auto_offset_reset="earliest")
    try:
        tps = wait_for_partitions(consumer, [topic], timeout_s=15.0)
        if partitions is not None:
            tps = [tp for tp in tps if tp.partition in partitions]
        start, end = _per_partition(start, tps), _per_partition(end, tps)
        highs = exact_end_offsets(consumer, tps, timeout_s=min(timeout_s, 30.0))
        first = consumer.beginning_offsets(tps)
        starts = {tp: max((start or {}).get(tp.partition, 0), first[tp]) for tp in tps}
        for tp, offset in starts.items():
            consumer.seek(tp, offset)
        # the requested end, at most the exact end
        ends = {tp: max(min(end.get(tp.partition, high) if end else high, high), starts[tp])
                for tp, high in highs.items()}
        records: list[Record] = []

        def read_some() -> bool:
            batches = consumer.poll(timeout_ms=200, max_records=5_000)
            fresh = [r for tp, rs in batches.items() for r in rs if r.offset < ends[tp]]
            if each is not None:
                each(fresh)
            else:
                records.extend(fresh)
            if progress is not None and fresh:
                progress(len(fresh))
            open_tps = [tp for tp in tps if consumer.position(tp) < ends[tp]]
            consumer.pause(*[tp for tp in tps if tp not in open_tps])
            return not open_tps

        if not wait_until(read_some, timeout_s, every_s=0.0):
            missing = sorted(tp.partition for tp in tps if consumer.position(tp) < ends[tp])
            raise BrokerError(f"topic {topic}: partitions {missing} not read to their end "
                              f"within {timeout_s:.0f}s")
    finally:
        consumer.close(autocommit=False)
    records.sort(key=lambda r: (r.partition, r.offset))
    return records, ReadSpan(topic, {tp.partition: (starts[tp], ends[tp]) for tp in tps})


def _per_partition(offsets: Mapping[int, int] | int | None,
                   tps: list[TopicPartition]) -> Mapping[int, int] | None:
    if isinstance(offsets, int):
        return {tp.partition: offsets for tp in tps}
    return offsets
