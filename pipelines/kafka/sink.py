"""The Kafka sink: produce records and learn whether the broker acknowledged all of them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import suppress
from typing import Any, Protocol

from kafka.errors import KafkaError
from kafka.future import Future

from streaminfer.errors import BrokerError
from streaminfer.pipelines.kafka.factory import new_producer


class SinkError(BrokerError):
    """Some records were not acknowledged; nothing of their batch may be committed.

    ``failed``: the positions (in the acknowledgements awaited, :meth:`Sink.wait`) of the
    records not acknowledged, when the sink knows them; the others were stored, so a caller may
    send only these again. ``None``: which ones is not known."""

    def __init__(self, message: str, failed: Sequence[int] | None = None) -> None:
        super().__init__(message)
        self.failed = None if failed is None else tuple(failed)


#: Records to one topic, each as (key, value), placed by its key.
KeyedRecords = Sequence[tuple[bytes | None, bytes | None]]


class Sink(Protocol):
    """What the scoring loop needs of a sink (:class:`KafkaSink`, the librdkafka one, or the
    in-memory twin ``pipelines.kafka.memory.MemorySink``): :meth:`send` queues a record and
    gives its acknowledgement to await, :meth:`send_many` queues many to one topic at once,
    :meth:`wait` awaits some of them (those of one batch, while the records of later batches
    are on their way)."""

    def send(
        self, topic: str, key: bytes | None, value: bytes | None,
        headers: list[tuple[str, bytes]] | None = None, partition: int | None = None,
    ) -> Any: ...

    def send_many(self, topic: str, records: KeyedRecords) -> list[Any]:
        """Queue ``records`` (each to a partition by its key, without headers); one ack per
        record, in order. It does not raise for a record refused before it was queued: its
        ack is one that :meth:`wait` reports as not acknowledged (kafka-python's are those
        after it too, not tried: each would wait as long)."""
        ...

    def wait(self, acks: Sequence[Any], timeout_s: float | None = None) -> int:
        """Await ``acks`` (what :meth:`send` and :meth:`send_many` returned); how many (all)
        were acknowledged. Raises :class:`SinkError` with the positions in ``acks`` of those
        refused or not acknowledged within ``timeout_s``."""
        ...

    def close(self, timeout_s: float = 10.0) -> None: ...


class KafkaSink:
    """An idempotent producer (acks=all); :meth:`send` gives the record's future."""

    def __init__(self, config: dict[str, Any], *, linger_ms: int, compression: str) -> None:
        self._producer = new_producer(
            config,
            acks="all",
            enable_idempotence=True,
            linger_ms=linger_ms,
            batch_size=256 * 1024,
            compression_type=None if compression == "none" else compression,
        )

    def send(
        self, topic: str, key: bytes | None, value: bytes | None,
        headers: list[tuple[str, bytes]] | None = None, partition: int | None = None,
    ) -> Any:
        """Queue one record (to ``partition``; default: by its key); a refusal before it is
        even queued (no metadata for the topic within ``max_block_ms``, a record over
        ``max_request_size``) is a :class:`SinkError` too, so the caller retries the batch
        instead of crashing."""
        try:
            return self._producer.send(topic, key=key, value=value, headers=headers,
                                       partition=partition)
        except KafkaError as exc:
            raise SinkError(f"cannot send to {topic}: {type(exc).__name__}: {exc}") from None

    def send_many(self, topic: str, records: KeyedRecords) -> list[Any]:
        """:meth:`send` each record (see :class:`Sink`): kafka-python queues one at a time."""
        acks: list[Any] = []
        for key, value in records:
            try:
                acks.append(self.send(topic, key, value))
            except SinkError as refused:  # the rest would wait as long: refused alike
                acks += [Future().failure(refused)] * (len(records) - len(acks))
                break
        return acks

    def wait(self, acks: Sequence[Any], timeout_s: float | None = None) -> int:
        """Await these records' futures (see :class:`Sink`). kafka-python holds a record for
        ``linger_ms`` unless flushed: this flushes the producer, so it also awaits what was
        sent after them."""
        with suppress(KafkaError):  # KafkaTimeoutError past timeout_s: the futures say which
            self._producer.flush(timeout=timeout_s)
        return acknowledged(len(acks), {i: f.exception if f.is_done else None
                                        for i, f in enumerate(acks) if not f.succeeded()})

    def close(self, timeout_s: float = 10.0) -> None:
        self._producer.close(timeout=timeout_s)


def acknowledged(count: int, failed: Mapping[int, object]) -> int:
    """``count`` (records awaited) when none ``failed``, else the :class:`SinkError` naming
    the first failure (``failed``: position -> error, None: not acknowledged in time)."""
    if failed:
        positions = sorted(failed)
        first = failed[positions[0]]
        raise SinkError(f"{len(failed)} of {count} records not acknowledged: "
                        f"{first if first is not None else 'not acknowledged in time'}",
                        positions)
    return count
