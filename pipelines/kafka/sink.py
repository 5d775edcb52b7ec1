"""The Kafka sink: produce records and learn whether the broker acknowledged all of them."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from typing import Any, Protocol

from kafka.errors import KafkaError

from streaminfer.errors import BrokerError
from streaminfer.pipelines.kafka.factory import new_producer


class SinkError(BrokerError):
    """Some records were not acknowledged; nothing of their batch may be committed.

    ``failed``: the positions (in send order since the last flush) of the records not
    acknowledged, when the sink knows them (a flush); the others were stored, so a caller may
    send only these again. ``None``: which ones is not known."""

    def __init__(self, message: str, failed: Sequence[int] | None = None) -> None:
        super().__init__(message)
        self.failed = None if failed is None else tuple(failed)


class Sink(Protocol):
    """What the scoring loop needs of a sink (:class:`KafkaSink`, or the in-memory twin
    ``pipelines.kafka.memory.MemorySink``)."""

    def send(
        self, topic: str, key: bytes | None, value: bytes | None,
        headers: list[tuple[str, bytes]] | None = None, partition: int | None = None,
    ) -> None: ...

    def flush(self, timeout_s: float | None = None) -> int: ...

    def close(self, timeout_s: float = 10.0) -> None: ...


class KafkaSink:
    """An idempotent producer (acks=all) that tracks the records sent since the last flush."""

    def __init__(self, config: dict[str, Any], *, linger_ms: int, compression: str) -> None:
        self._producer = new_producer(
            config,
            acks="all",
            enable_idempotence=True,
            linger_ms=linger_ms,
            batch_size=256 * 1024,
            compression_type=None if compression == "none" else compression,
        )
        self._pending: list[Any] = []

    def send(
        self, topic: str, key: bytes | None, value: bytes | None,
        headers: list[tuple[str, bytes]] | None = None, partition: int | None = None,
    ) -> None:
        """Queue one record (to ``partition``; default: by its key); a refusal before it is
        even queued (no metadata for the topic within ``max_block_ms``, a record over
        ``max_request_size``) is a :class:`SinkError` too, so the caller retries the batch
        instead of crashing."""
        try:
            future = self._producer.send(topic, key=key, value=value, headers=headers,
                                         partition=partition)
        except KafkaError as exc:
            raise SinkError(f"cannot send to {topic}: {type(exc).__name__}: {exc}") from None
        self._pending.append(future)

    def flush(self, timeout_s: float | None = None) -> int:
        """Wait for every record sent since the last flush; raise :class:`SinkError` (with
        the positions of those not acknowledged) if any was refused or not acknowledged in
        time. Returns how many were acknowledged."""
        pending, self._pending = self._pending, []
        with suppress(KafkaError):  # KafkaTimeoutError past timeout_s: the futures say which
            self._producer.flush(timeout=timeout_s)
        failed = [i for i, f in enumerate(pending) if not f.succeeded()]
        if failed:
            future = pending[failed[0]]
            first = future.exception if future.is_done else "not acknowledged in time"
            raise SinkError(f"{len(failed)} of {len(pending)} records not acknowledged: {first}",
                            failed)
        return len(pending)

    def close(self, timeout_s: float = 10.0) -> None:
        self._producer.close(timeout=timeout_s)
