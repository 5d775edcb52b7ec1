"""What a topic holds: its partitions, and the exact end of each one.

The end of a partition is the high watermark a fetch response carries
(``consumer.highwater``), never ``end_offsets()`` alone: the embedded broker answers
ListOffsets(latest) with the base offset of the last record batch + 1, up to one batch short
(ARCHITECTURE.md, docs/operations.md). :func:`exact_end_offsets` is the one reader of ends:
lag, batch topic ranges, the range reader and ``streaminfer tail`` use it.
"""

from __future__ import annotations

import time

from kafka import KafkaConsumer, TopicPartition

from streaminfer.errors import BrokerError

#: How long one poll waits for fetch responses while a watermark is still missing.
_POLL_MS = 50


def wait_for_partitions(
    consumer: KafkaConsumer, topics: list[str], timeout_s: float
) -> list[TopicPartition]:
    """Every partition of ``topics``, in order; raises :class:`BrokerError` for a topic the
    broker does not show within ``timeout_s`` (all topics share the one deadline)."""
    partitions: list[TopicPartition] = []
    deadline = time.monotonic() + timeout_s
    for topic in topics:
        ids = consumer.partitions_for_topic(topic)
        while not ids and time.monotonic() < deadline:
            consumer.poll(timeout_ms=100)  # drives a metadata refresh
            ids = consumer.partitions_for_topic(topic)
        if not ids:
            raise BrokerError(f"topic {topic} does not exist (waited {timeout_s:.0f}s)")
        partitions += [TopicPartition(topic, p) for p in sorted(ids)]
    return partitions


def exact_end_offsets(
    consumer: KafkaConsumer, partitions: list[TopicPartition], timeout_s: float = 30.0
) -> dict[TopicPartition, int]:
    """The high watermark of each partition, from a fetch made by this call.

    ``consumer`` must be group-less (``group_id=None``); it is left assigned to
    ``partitions`` at unspecified positions (seek before reading). Each partition is fetched
    from the ``end_offsets()`` answer (at most one batch before the true end, so the fetch
    is small). Raises :class:`BrokerError` when a partition gets no fetch answer in time.
    """
    if not partitions:
        return {}
    timeout_ms = int(timeout_s * 1000)
    # Re-assigning drops each partition's state: a watermark seen below comes from a fetch
    # made by this call, never one left from an earlier read.
    consumer.unsubscribe()
    consumer.assign(partitions)
    for tp, offset in consumer.end_offsets(partitions, timeout_ms=timeout_ms).items():
        consumer.seek(tp, offset)
    deadline = time.monotonic() + timeout_s
    highs = {tp: consumer.highwater(tp) for tp in partitions}
    while any(h is None for h in highs.values()):
        if time.monotonic() > deadline:
            unknown = ", ".join(f"{tp.topic}/{tp.partition}"
                                for tp, h in highs.items() if h is None)
            raise BrokerError(f"no fetch answer for {unknown} within {timeout_s:.0f}s; "
                              "is the broker healthy?")
        consumer.poll(timeout_ms=_POLL_MS, max_records=1_000_000)  # records are ignored
        highs = {tp: consumer.highwater(tp) for tp in partitions}
    return {tp: int(h) for tp, h in highs.items() if h is not None}
