"""Read an exact range of offsets from every partition of a topic, outside any group.

The end of a partition is its high watermark as a fetch response reports it, never
``end_offsets()`` (the embedded broker answers that one batch short; ARCHITECTURE.md).

>>> parse_range("topic:training")
('training', None, None)
>>> parse_range("topic:training:100-250")
('training', 100, 250)
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from streaminfer.errors import BrokerError, DataError
from streaminfer.operators.records import Record
from streaminfer.operators.topic_metadata import wait_for_partitions

PREFIX = "topic:"
_RANGE = re.compile(r"^topic:([A-Za-z0-9._-]+)(?::(\d*)-(\d*))?$")
_POLL_MS = 200


def parse_range(text: str) -> tuple[str, int | None, int | None]:
    """``topic:NAME[:START-END]`` -> (name, start, end); offsets in every partition, the end
    exclusive, either side may be left out."""
    match = _RANGE.match(text)
    if match is None:
        raise DataError(f"{text!r}: give a topic range as topic:NAME or topic:NAME:START-END "
                        "(offsets in every partition, END exclusive)")
    name, start, end = match.groups()
    first = int(start) if start else None
    last = int(end) if end else None
    if first is not None and last is not None and last < first:
        raise DataError(f"{text!r}: the range ends before it starts")
    return name, first, last


def read_range(
    config: dict[str, Any], topic: str, start: int | None = None, end: int | None = None, *,
    timeout_s: float = 60.0, progress: Callable[[int], None] | None = None,
) -> list[Record]:
    """Every record of ``topic`` with ``start <= offset < end`` (per partition; open ends: the
    beginning and the high watermark), in partition then offset order."""
    consumer = KafkaConsumer(**config, group_id=None, enable_auto_commit=False,
                             fetch_max_wait_ms=100)
    try:
        partitions = wait_for_partitions(consumer, [topic], 15.0)
        consumer.assign(partitions)
        for tp in partitions:
            if start is None:
                consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, start)
        got: dict[TopicPartition, list[Any]] = {tp: [] for tp in partitions}
        deadline = time.monotonic() + timeout_s
        while not _done(consumer, partitions, end):
            if time.monotonic() > deadline:
                raise BrokerError(f"{topic}: the range was not read within {timeout_s:.0f}s")
            for tp, records in consumer.poll(timeout_ms=_POLL_MS, max_records=10_000).items():
                kept = [r for r in records if end is None or r.offset < end]
                got[tp] += kept
                if progress is not None and kept:
                    progress(len(kept))
        return [r for tp in partitions for r in got[tp]]
    finally:
        consumer.close(autocommit=False)


def _done(consumer: KafkaConsumer, partitions: list[TopicPartition], end: int | None) -> bool:
    """Whether every partition was read up to ``end`` or its high watermark."""
    for tp in partitions:
        high = consumer.highwater(tp)
        if high is None:
            return False
        if consumer.position(tp) < (high if end is None else min(end, high)):
            return False
    return True
