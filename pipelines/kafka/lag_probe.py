"""Measure a consumer group's lag from outside the group: committed offsets and end offsets.

The autoscaler uses it; anything that wants to know how far a group is behind can. It joins
no group: committed offsets come from an admin client (OffsetFetch), end offsets from a
group-less consumer.

End offsets are exact: :func:`~streaminfer.pipelines.kafka.topic_metadata.exact_end_offsets` (the
high watermark of a fresh fetch, not ``end_offsets()``, which the embedded broker answers up
to one record batch short; docs/operations.md).
"""

from __future__ import annotations

from typing import Any, Literal

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from streaminfer.errors import BrokerError
from streaminfer.operators.partition_lag import PartitionLag
from streaminfer.pipelines.kafka.factory import new_admin, new_consumer
from streaminfer.pipelines.kafka.topic_metadata import exact_end_offsets, wait_for_partitions


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
        self._admin = new_admin(settings, timeout_s=timeout_s)
        try:
            # group_id=None: never a member of any group, never commits.
            self._consumer = new_consumer(settings, fetch_max_wait_ms=10,
                                          max_partition_fetch_bytes=1_048_576)
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
        """The exact end (high watermark) of each partition, from a fresh fetch."""
        try:
            return exact_end_offsets(self._consumer, self.partitions, self.timeout_s)
        except BrokerError as exc:
            raise BrokerError(f"lag probe: {exc}") from None

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
