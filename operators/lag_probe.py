"""Measure a consumer group's lag from outside the group: committed offsets and end offsets.

The autoscaler uses it; anything that wants to know how far a group is behind can. It joins
no group: committed offsets come from an admin client (OffsetFetch), end offsets from a
group-less consumer.

End offsets are the high watermark of a fetch response, not ``end_offsets()``: the embedded
broker answers ListOffsets(latest) with the base offset of the last record batch + 1, which
reads low by up to one batch (see docs/operations.md). So each :meth:`LagProbe.measure` seeks
to the ListOffsets answer (at most one batch before the end, so the fetch is small), fetches
once per partition and reads the watermark the broker sent with it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from streaminfer.errors import BrokerError
from streaminfer.operators.topic_metadata import wait_for_partitions

#: How long one poll waits for fetch responses while a watermark is still missing.
_POLL_MS = 50


@dataclass(frozen=True)
class PartitionLag:
    """One partition of a group, at one moment."""

    committed: int | None
    """The group's committed offset (the next record it will read); None: nothing committed."""
    end: int
    """The high watermark: the offset the next record written to the partition will get."""
    lag: int
    """Records the group has not committed yet (``end - committed``; without a committed
    offset, from where the group would start: the log start for ``earliest``, none for
    ``latest``)."""


class LagProbe:
    """Committed offsets of ``group_id`` and exact end offsets of every partition of ``topics``.

    Not thread-safe: use one probe from one thread. :meth:`close` releases its connections.
    """

    def __init__(
        self, config: dict[str, Any], topics: list[str], group_id: str, *,
        auto_offset_reset: Literal["earliest", "latest"] = "earliest",
        timeout_s: float = 10.0,
    ) -> None:
        self.group_id = group_id
        self.auto_offset_reset = auto_offset_reset
        self.timeout_s = timeout_s
        client_id = f"{config.get('client_id', 'streaminfer')}-lag-probe"
        settings = {**config, "client_id": client_id}
        try:
            self._admin = KafkaAdminClient(**settings)
        except KafkaError as exc:
            raise BrokerError(f"lag probe cannot reach Kafka: {type(exc).__name__}") from None
        try:
            # group_id=None: never a member of any group, never commits.
            self._consumer = KafkaConsumer(
                **settings, group_id=None, enable_auto_commit=False, fetch_max_wait_ms=10,
                max_partition_fetch_bytes=1_048_576,
            )
            self.partitions = wait_for_partitions(self._consumer, topics, self.timeout_s)
        except BaseException:
            self.close()
            raise

    def measure(self) -> dict[TopicPartition, PartitionLag]:
        """Lag of every partition now. Raises :class:`BrokerError` when Kafka does not answer.

        Committed offsets are read before end offsets, so a record written in between can
        only make the lag read high, never below zero.
        """
        try:
            committed = self.committed()
            ends = self.end_offsets()
            missing = [tp for tp in self.partitions if committed.get(tp) is None]
            starts: dict[TopicPartition, int] = {}
            if missing and self.auto_offset_reset == "earliest":
                starts = {tp: int(o) for tp, o in self._consumer.beginning_offsets(
                    missing, timeout_ms=int(self.timeout_s * 1000)).items()}
        except KafkaError as exc:
            raise BrokerError(f"lag probe: {type(exc).__name__}: {exc}") from None
        out = {}
        for tp in self.partitions:
            end = ends[tp]
            done = committed.get(tp)
            start = done if done is not None else starts.get(tp, end)
            out[tp] = PartitionLag(committed=done, end=end, lag=max(0, end - start))
        return out

    def committed(self) -> dict[TopicPartition, int | None]:
        """The group's committed offset per partition (OffsetFetch; joins nothing)."""
        answer = self._admin.list_group_offsets(self.group_id)
        offsets = answer.get(self.group_id, {}) if isinstance(answer, dict) else {}
        out: dict[TopicPartition, int | None] = {}
        for tp in self.partitions:
            meta = offsets.get(tp)
            out[tp] = meta.offset if meta is not None and meta.offset >= 0 else None
        return out

    def end_offsets(self) -> dict[TopicPartition, int]:
        """The high watermark of each partition, from a fresh fetch response."""
        consumer = self._consumer
        # Re-assigning drops each partition's state, so a watermark seen now is from a fetch
        # made by this call, never one left from the previous call.
        consumer.unsubscribe()
        consumer.assign(self.partitions)
        timeout_ms = int(self.timeout_s * 1000)
        for tp, offset in consumer.end_offsets(self.partitions, timeout_ms=timeout_ms).items():
            consumer.seek(tp, offset)  # at most one batch before the end
        deadline = time.monotonic() + self.timeout_s
        highs = {tp: consumer.highwater(tp) for tp in self.partitions}
        while any(h is None for h in highs.values()):
            if time.monotonic() > deadline:
                unknown = ", ".join(f"{tp.topic}/{tp.partition}"
                                    for tp, h in highs.items() if h is None)
                raise BrokerError(f"lag probe: no fetch answer for {unknown} within "
                                  f"{self.timeout_s:.0f}s")
            consumer.poll(timeout_ms=_POLL_MS, max_records=1_000_000)  # records are ignored
            highs = {tp: consumer.highwater(tp) for tp in self.partitions}
        return {tp: int(h) for tp, h in highs.items() if h is not None}

    def close(self) -> None:
        for client in (getattr(self, "_consumer", None), getattr(self, "_admin", None)):
            if client is not None:
                try:
                    if isinstance(client, KafkaConsumer):
                        client.close(autocommit=False)
                    else:
                        client.close()
                except Exception:  # closing is best effort
                    pass

    def __enter__(self) -> LagProbe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
