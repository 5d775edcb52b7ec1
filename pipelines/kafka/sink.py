"""The Kafka sink: produce records and learn whether the broker acknowledged all of them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import suppress
from typing import Any, Protocol

from kafka.errors import KafkaError

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


class Sink(Protocol):
    """What the scoring loop needs of a sink (:class:`KafkaSink`, the librdkafka one, or the
    in-memory twin ``pipelines.kafka.memory.MemorySink``): :meth:`send` queues a record and
    gives its acknowledgement to await, :meth:`wait` awaits some of them (those of one batch,
    while the records of later batches are on their way)."""

    def send(
        self, topic: str, key: bytes | None, value: bytes | None,
        headers: list[tuple[str, bytes]] | None = None, partition: int | None = None,
    ) -> Any: ...

    def wait(self, acks: Sequence[Any], timeout_s: float | None = None) -> int:
        """Await ``acks`` (what :meth:`send` returned); how many (all) were acknowledged.
        Raises :class:`SinkError` with the positions in ``acks`` of those refused or not
        acknowledged within ``timeout_s``."""
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

    def wait(self, acks: Sequence[Any], timeout_s: float | None = None) -> int:
        """Await these records' futures (see :class:`Sink`). kafka-python holds a record for
        ``linger_ms`` unless flushed: this flushes the producer, so it also awaits what was
        sent after them."""
        with suppress(KafkaError):  # KafkaTimeoutError past timeout_s: the futures say which
            self._producer.flush(timeout=timeout_s)
        return acknowledged(acks, [i for i, f in enumerate(acks) if not f.succeeded()],
                            lambda f: f.exception if f.is_done else None)

    def close(self, timeout_s: float = 10.0) -> None:
        self._producer.close(timeout=timeout_s)


def acknowledged(acks: Sequence[Any], failed: list[int],
                 error_of: Callable[[Any], object]) -> int:
    """``len(acks)`` when none ``failed``, else the :class:`SinkError` naming the first
    failure (``error_of(ack)``, None: not acknowledged in time)."""
    if failed:
        first = error_of(acks[failed[0]])
        raise SinkError(f"{len(failed)} of {len(acks)} records not acknowledged: "
                        f"{first if first is not None else 'not acknowledged in time'}", failed)
    return len(acks)
