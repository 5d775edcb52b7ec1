"""Exact topic ranges: resolved against the broker by the driver, read by the actors.

``latest`` is the exact end (``exact_end_offsets``: the high watermark of a fetch, never
``end_offsets()`` alone, which the embedded broker answers one record batch short). A time bound
uses ListOffsets by timestamp (``offsets_for_times``); a broker without it (the embedded one)
is a clear error.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from streaminfer.errors import BrokerError, ConfigError
from streaminfer.operators.batch_units import Unit, offset_units
from streaminfer.operators.records import Record
from streaminfer.operators.topic_ranges import RangeError, TopicRange, resolve
from streaminfer.pipelines.kafka.factory import new_consumer
from streaminfer.pipelines.kafka.topic_metadata import exact_end_offsets, wait_for_partitions

_NO_TIMES = ("the broker cannot find offsets by time ({}); the embedded broker lacks "
             "ListOffsets by timestamp: give offsets or earliest/latest instead of time:")
#: Longest a unit's read may go without a new record before it is abandoned.
STALL_S = 60.0


def _consumer(config: dict[str, Any], **options: Any) -> KafkaConsumer:
    return new_consumer(config, fetch_max_wait_ms=100, **options)


def plan_topic(config: dict[str, Any], request: TopicRange, unit_rows: int) -> list[Unit]:
    """Units over the exact offsets ``request`` names, a partition after the other."""
    consumer = _consumer(config)
    try:
        partitions = wait_for_partitions(consumer, [request.topic], 15.0)
        begin = {tp.partition: o for tp, o in consumer.beginning_offsets(partitions).items()}
        high = {tp.partition: end for tp, end in exact_end_offsets(consumer, partitions).items()}
        times = _time_offsets(consumer, request, partitions)
    finally:
        consumer.close(autocommit=False)
    try:
        ranges = resolve(request, begin=begin, high=high, times=times)
    except RangeError as exc:
        raise ConfigError(str(exc)) from None
    units: list[Unit] = []
    for partition, (start, end) in ranges.items():
        units += offset_units(request.topic, partition, start, end, unit_rows, first=len(units))
    return units


def _time_offsets(
    consumer: KafkaConsumer, request: TopicRange, partitions: list[TopicPartition]
) -> dict[tuple[str, int], int | None]:
    found: dict[tuple[str, int], int | None] = {}
    for which, bound in (("start", request.start), ("end", request.end)):
        if bound.kind != "time":
            continue
        try:
            answer = consumer.offsets_for_times({tp: bound.time_ms for tp in partitions})
        except KafkaError as exc:
            raise BrokerError(_NO_TIMES.format(f"{type(exc).__name__}: {exc}")) from None
        for tp in partitions:
            hit = answer.get(tp)
            if hit is not None and hit.timestamp < 0:  # an offset for no record: made up
                raise BrokerError(_NO_TIMES.format("it answered an offset without a timestamp"))
            found[(which, tp.partition)] = None if hit is None else hit.offset
    return found


def read_topic_unit(config: dict[str, Any], unit: Unit, batch_size: int) -> Iterator[list[Record]]:
    """Every record with an offset in ``[unit.start, unit.end)``, ``batch_size`` at a time."""
    tp = TopicPartition(unit.path, unit.partition)
    consumer = _consumer(config, max_poll_records=batch_size)
    try:
        consumer.assign([tp])
        consumer.seek(tp, unit.start)
        last_progress = time.monotonic()
        while consumer.position(tp) < unit.end:
            records = consumer.poll(timeout_ms=200).get(tp, [])
            kept = [r for r in records if unit.start <= r.offset < unit.end]
            if kept:
                last_progress = time.monotonic()
                yield kept
            elif time.monotonic() - last_progress > STALL_S:
                raise BrokerError(
                    f"{unit.path} partition {unit.partition}: no records for {STALL_S:.0f}s "
                    f"at offset {consumer.position(tp)} (reading up to {unit.end})"
                )
    finally:
        consumer.close(autocommit=False)
