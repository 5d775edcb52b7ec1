"""The source on librdkafka (confluent-kafka), ``kafka.client: confluent``, and the settings
it shares with the sink (``pipelines/kafka/confluent_sink.py``).

With the sink, the same contract as :class:`~streaminfer.pipelines.kafka.source.KafkaSource`
and :class:`~streaminfer.pipelines.kafka.sink.KafkaSink` (kafka-python), which stay the default:
nothing committed on its own, commits after the sink's acks, the revoke callback run inside
:meth:`ConfluentSource.poll` while the member may still commit (librdkafka serves it on the
polling thread, and its commits are awaited there; elsewhere a commit is sent without
waiting for its answer, and awaited before the partitions move or the source closes), the
sink saying which of the records awaited were not acknowledged, keys partitioned as Java and
kafka-python do (murmur2), record headers kept. The client is C: a record costs about a
microsecond of Python instead of kafka-python's tens (docs/decisions.md, 2026-12-07).

>>> librdkafka_config({"bootstrap_servers": ["a:9092", "b:9092"], "client_id": "w0",
...                    "sasl_plain_username": "scorer"})
{'bootstrap.servers': 'a:9092,b:9092', 'client.id': 'w0', 'sasl.username': 'scorer'}
"""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import OFFSET_INVALID, Consumer, KafkaException
from confluent_kafka import TopicPartition as Partition
from kafka import TopicPartition
from kafka.errors import CommitFailedError

from streaminfer.errors import BrokerError
from streaminfer.operators.records import Record, SourceRecord, new_tuple
from streaminfer.pipelines.kafka.source import Offsets, Partitions

#: librdkafka's own log lines, as Python log records (not raw lines on stderr), governed as
#: kafka-python's are (``pipelines/process/log_levels.py``).
LIBRDKAFKA_LOG = logging.getLogger("librdkafka")
_LOG = logging.getLogger(__name__)

#: How long librdkafka pauses fetching a partition once its local queue is full
#: (``queued.max.messages.kbytes``, 64 MiB: ~78,000 events of 860 bytes). Its default, 1,000
#: ms, let a worker reading a backlog at 70,000+ events/s empty the queue and wait up to 100 ms
#: a poll for the next fetch (docs/decisions.md, "librdkafka's fetch backoff").
FETCH_QUEUE_BACKOFF_MS = 20

#: kafka-python setting -> librdkafka property (``client_config``'s keys).
_NAMES = {
    "client_id": "client.id",
    "security_protocol": "security.protocol",
    "request_timeout_ms": "socket.timeout.ms",
    "sasl_mechanism": "sasl.mechanism",
    "sasl_plain_username": "sasl.username",
    "sasl_plain_password": "sasl.password",
    "ssl_cafile": "ssl.ca.location",
    "ssl_certfile": "ssl.certificate.location",
    "ssl_keyfile": "ssl.key.location",
    "ssl_password": "ssl.key.password",
}


def librdkafka_config(config: dict[str, Any]) -> dict[str, Any]:
    """librdkafka's properties for kafka-python settings made by ``client_config``."""
    out: dict[str, Any] = {"bootstrap.servers": ",".join(config["bootstrap_servers"])}
    for key, value in config.items():
        if key in _NAMES:
            out[_NAMES[key]] = value
    return out


class ConfluentSource:
    """A consumer in ``group_id`` over ``topics`` (librdkafka) that never commits on its
    own; it joins the group at :meth:`subscribe` (see :class:`KafkaSource`)."""

    def __init__(
        self, config: dict[str, Any], *, topics: list[str], group_id: str,
        auto_offset_reset: str, max_poll_records: int, fetch_max_wait_ms: int,
        session_timeout_ms: int, heartbeat_interval_ms: int,
    ) -> None:
        self.topics = list(topics)
        self._max_records = max_poll_records
        self._consumer = Consumer({
            **librdkafka_config(config),
            "group.id": group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": auto_offset_reset,
            "fetch.wait.max.ms": fetch_max_wait_ms,
            "session.timeout.ms": session_timeout_ms,
            "heartbeat.interval.ms": heartbeat_interval_ms,
            "partition.assignment.strategy": "range",
            "fetch.queue.backoff.ms": FETCH_QUEUE_BACKOFF_MS,
            "logger": LIBRDKAFKA_LOG,
            "on_commit": _committed,
        })
        self._assigned: set[TopicPartition] = set()
        self._revoking = False  # inside the revoke callback: commits wait for the broker
        self._sent: Offsets = {}  # per assigned partition, the last offset sent to commit

    def subscribe(self, on_revoked: Partitions, on_assigned: Partitions) -> None:
        """Join the group (at the next :meth:`poll`); the callbacks run inside polls."""

        def assigned(consumer: Consumer, partitions: list[Partition]) -> None:
            self._assigned = {TopicPartition(p.topic, p.partition) for p in partitions}
            on_assigned(set(self._assigned))

        def revoked(consumer: Consumer, partitions: list[Partition]) -> None:
            gone = {TopicPartition(p.topic, p.partition) for p in partitions}
            self._revoking = True
            try:
                on_revoked(gone)
                # what was sent before without waiting lands before the partitions move
                self._commit({tp: o for tp, o in self._sent.items() if tp in gone}, wait=True)
            finally:
                self._revoking = False
            self._assigned -= gone
            self._sent = {tp: o for tp, o in self._sent.items() if tp not in gone}

        self._consumer.subscribe(self.topics, on_assign=assigned, on_revoke=revoked,
                                 on_lost=revoked)

    def poll(self, timeout_ms: int, max_records: int) -> list[Record]:
        """Records read; each partition's in offset order."""
        # consume(n, timeout) waits for n messages: take what is here, else wait for one.
        most = min(max_records, self._max_records)
        messages = self._consumer.consume(most, 0)
        if not messages and timeout_ms > 0:
            first = self._consumer.poll(timeout_ms / 1000)
            if first is not None:
                messages = [first, *self._consumer.consume(most - 1, 0)] if most > 1 \
                    else [first]
        records: list[Record] = []
        for m in messages:
            error = m.error()
            if error is not None:
                if error.fatal():
                    raise BrokerError(f"Kafka consumer failed: {error}")
                continue  # informational (a partition's end, a transient broker error)
            # Without an error a message has its topic, partition and offset, and its headers
            # are a list of (str, bytes) pairs.
            records.append(new_tuple(SourceRecord, (
                m.topic(), m.partition(), m.offset(), m.timestamp()[1], m.key(), m.value(),
                m.headers() or ())))
        return records

    def commit(self, next_offsets: Offsets) -> None:
        """Commit, per partition, the offset of the next record to read: sent without
        waiting for the broker's answer (a failure is logged when it comes, inside a later
        poll), except inside the revoke callback, where it is awaited; every commit sent
        lands before the partitions move or the source closes. Raises a
        ``kafka.errors.CommitFailedError`` (as the kafka-python source does) when it cannot
        be sent."""
        self._sent.update(next_offsets)
        self._commit(next_offsets, wait=self._revoking)

    def _commit(self, offsets: Offsets, *, wait: bool) -> None:
        """Send a commit; with ``wait``, until the broker answers (after the commits sent
        before, in order)."""
        if not offsets:
            return
        partitions = _partitions(offsets)
        try:
            if wait:
                self._consumer.commit(offsets=partitions, asynchronous=False)
            else:
                self._consumer.commit(offsets=partitions, asynchronous=True)
        except KafkaException as exc:
            raise CommitFailedError(str(exc)) from None

    def rewind(self, offsets: Offsets) -> None:
        """Read these partitions again from these offsets (those still assigned)."""
        for tp, offset in offsets.items():
            if tp in self._assigned:
                self._consumer.seek(Partition(tp.topic, tp.partition, offset))

    def lag(self) -> dict[TopicPartition, int]:
        """Records not yet read, per assigned partition, from the last fetch's high
        watermark."""
        lags = {}
        positions = self._consumer.position([Partition(tp.topic, tp.partition)
                                             for tp in self._assigned])
        for p in positions:
            if p.offset == OFFSET_INVALID or p.offset < 0:
                continue  # position unknown until the first fetch
            _, high = self._consumer.get_watermark_offsets(p, cached=True)
            if high >= 0:
                lags[TopicPartition(p.topic, p.partition)] = max(0, high - p.offset)
        return lags

    def close(self) -> None:
        """Leave the group (so partitions move at once) and close: librdkafka awaits the
        commits sent before it leaves (test_source_integration.py shows it)."""
        self._consumer.close()


def _partitions(offsets: Offsets) -> list[Partition]:
    return [Partition(tp.topic, tp.partition, offset) for tp, offset in offsets.items()]


def _committed(error: Any, partitions: list[Partition]) -> None:
    """A commit's answer (run by librdkafka inside a poll): a failure is said."""
    failed = [p for p in partitions if p.error is not None]
    if error is not None or failed:
        _LOG.warning("commit failed: %s; the partitions' next reader scores those events "
                     "again", error or failed[0].error)
