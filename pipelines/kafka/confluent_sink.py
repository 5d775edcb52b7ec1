"""The librdkafka sink (``kafka.client: confluent``): an idempotent producer whose records are
acknowledged by delivery reports, counted per group of records queued together.

A group is one record (:meth:`ConfluentSink.send`, with headers or a chosen partition) or many
to one topic (:meth:`ConfluentSink.send_many`, one ``produce_batch``: 0.64-0.69 us a record in
the caller against 1.2-2.0 with ``produce`` and a callback made per record, docs/decisions.md).
Every record of a group reports to one :class:`Reports`, which counts them and keeps the
refused ones, found again by their key and value.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from streaminfer.pipelines.kafka.confluent import LIBRDKAFKA_LOG, librdkafka_config
from streaminfer.pipelines.kafka.sink import KeyedRecords, SinkError, acknowledged

#: Longest single wait for delivery reports (a poll returns as soon as one is served).
WAIT_POLL_S = 0.1
#: The producer serves delivery reports every this many records sent (and in every wait): a
#: ``poll(0)`` per record cost ~0.4 us of the ~4 us a send took (docs/decisions.md).
POLL_EVERY_SENDS = 64
#: Longest pause for room in librdkafka's queue when it is full.
QUEUE_FULL_POLL_S = 0.05


class Reports:
    """The delivery reports of a group of records queued together: ``left`` not reported
    yet; those refused by the broker (:meth:`report`) or before they were queued
    (:meth:`refuse`). :meth:`failed` says which, by position in the group."""

    __slots__ = ("_refused", "_reported", "left", "records")

    def __init__(self, records: KeyedRecords) -> None:
        self.records = records
        self.left = len(records)
        self._refused: dict[int, object] = {}  # position -> error, never queued
        self._reported: list[tuple[object, bytes | None, bytes | None]] = []  # refused

    def report(self, error: KafkaError | None, message: Any) -> None:
        """One record's delivery report (run by librdkafka inside ``poll``/``flush``)."""
        self.left -= 1
        if error is not None:
            self._reported.append((error, message.key(), message.value()))

    def refuse(self, position: int, error: object) -> None:
        """The record at ``position`` was not queued (it gets no report)."""
        self._refused[position] = error
        self.left -= 1

    @property
    def complete(self) -> bool:
        """Every record reported, each acknowledged (none refused)."""
        return self.left == 0 and not self._refused and not self._reported

    def failed(self) -> dict[int, object]:
        """Position in the group -> error of each record not acknowledged (None: not
        reported yet). A refused report names its record by key and value: of records alike,
        the first not named yet (they are the same record to send again). While reports
        are missing, which of the unnamed records they are is not known: all are named."""
        failed = dict(self._refused)
        for error, key, value in self._reported:
            failed[self._named(failed, key, value)] = error
        if self.left:
            failed.update((i, None) for i in range(len(self.records)) if i not in failed)
        return failed

    def _named(self, failed: dict[int, object], key: bytes | None, value: bytes | None) -> int:
        """The first record not in ``failed`` with this key and value (librdkafka reports an
        empty key or value as None); the first not in ``failed`` if none has them."""
        free = [i for i in range(len(self.records)) if i not in failed]
        named = (key or None, value or None)
        return next((i for i in free
                     if (self.records[i][0] or None, self.records[i][1] or None) == named),
                    free[0])


class ConfluentSink:
    """An idempotent producer (acks=all, librdkafka); an ack is the :class:`Reports` of the
    record's group, once per record (see :class:`~streaminfer.pipelines.kafka.sink.Sink`)."""

    def __init__(self, config: dict[str, Any], *, linger_ms: int, compression: str) -> None:
        self._producer = Producer({
            **librdkafka_config(config),
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": linger_ms,
            "batch.size": 256 * 1024,
            "compression.type": compression,
            "partitioner": "murmur2_random",  # where Java and kafka-python put a key
            "logger": LIBRDKAFKA_LOG,
        })
        self._newest: Reports | None = None  # the group sent last
        self._unpolled = 0  # records sent since the producer last served its reports

    def send(
        self, topic: str, key: bytes | None, value: bytes | None,
        headers: list[tuple[str, bytes]] | None = None, partition: int | None = None,
    ) -> Reports:
        """Queue one record; a refusal before it is queued is a :class:`SinkError`."""
        reports = Reports(((key, value),))
        options: dict[str, Any] = {"on_delivery": reports.report}
        if partition is not None:
            options["partition"] = partition
        if headers:
            options["headers"] = headers
        while True:
            try:
                self._producer.produce(topic, value, key, **options)
                break
            except BufferError:  # its queue is full: let it send
                self._producer.poll(QUEUE_FULL_POLL_S)
            except KafkaException as exc:
                raise _cannot_send(topic, exc) from None
        self._sent(reports, 1)
        return reports

    def send_many(self, topic: str, records: KeyedRecords) -> list[Reports]:
        """Queue ``records`` with one ``produce_batch`` (see
        :class:`~streaminfer.pipelines.kafka.sink.Sink`): those refused for a full queue are
        queued again once it has room; any other refusal is the record's failure."""
        if not records:
            return []
        reports = Reports(records)
        todo: list[tuple[int, dict[str, Any]]] = list(enumerate(
            {"key": key, "value": value} for key, value in records))
        while todo:
            messages = [message for _, message in todo]
            try:
                queued = self._producer.produce_batch(topic, messages,
                                                      on_delivery=reports.report)
            except KafkaException as exc:  # none queued
                refused = _cannot_send(topic, exc)
                for position, _ in todo:
                    reports.refuse(position, refused)
                break
            if queued == len(messages):
                break
            full = []
            for position, message in todo:
                error = message.pop("_error", None)
                if error is None:
                    continue
                if error.code() == KafkaError._QUEUE_FULL:
                    full.append((position, message))
                else:
                    reports.refuse(position, _cannot_send(topic, error))
            todo = full
            if todo:
                self._producer.poll(QUEUE_FULL_POLL_S)
        self._sent(reports, len(records))
        return [reports] * len(records)

    def _sent(self, reports: Reports, count: int) -> None:
        self._newest = reports
        self._unpolled += count
        if self._unpolled >= POLL_EVERY_SENDS:
            self._unpolled = 0
            self._producer.poll(0)

    def wait(self, acks: Sequence[Reports], timeout_s: float | None = None) -> int:
        """Await these records' delivery reports only (records sent after them go on), up to
        ``timeout_s`` (see :class:`~streaminfer.pipelines.kafka.sink.Sink`). When they end
        with the group sent last, nothing was sent after them: a flush (which awaits
        everything) sends them at once, without the linger (a batch no other follows)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        if acks and acks[-1] is self._newest:
            self._producer.flush(-1 if timeout_s is None else timeout_s)
        groups = list(dict.fromkeys(acks))  # each once, in order
        pending = 0  # groups before it are answered
        while True:
            while pending < len(groups) and groups[pending].left == 0:
                pending += 1
            left = None if deadline is None else deadline - time.monotonic()
            if pending == len(groups) or (left is not None and left <= 0):
                break
            self._producer.poll(WAIT_POLL_S if left is None else min(left, WAIT_POLL_S))
        if all(group.complete for group in groups):
            return len(acks)
        return acknowledged(len(acks), _failed(acks))

    def close(self, timeout_s: float = 10.0) -> None:
        self._producer.flush(timeout_s)
        self._producer.close()


def _cannot_send(topic: str, error: object) -> SinkError:
    """A record refused before it was queued."""
    return SinkError(f"cannot send to {topic}: {error}")


def _failed(acks: Sequence[Reports]) -> dict[int, object]:
    """Position in ``acks`` -> error of each record not acknowledged: the n-th time a group
    appears in ``acks`` is its n-th record."""
    seen: dict[Reports, int] = {}
    failed_of = {group: group.failed() for group in dict.fromkeys(acks)}
    failed = {}
    for position, group in enumerate(acks):
        index = seen[group] = seen.get(group, -1) + 1
        if index in failed_of[group]:
            failed[position] = failed_of[group][index]
    return failed

