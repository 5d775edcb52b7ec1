"""The Kafka source: one consumer-group member that polls, commits and reports lag."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from kafka import AsyncConsumerRebalanceListener, TopicPartition
from kafka.errors import KafkaError
from kafka.future import Future
from kafka.structs import OffsetAndMetadata

from streaminfer.operators.records import Record
from streaminfer.pipelines.kafka.factory import new_consumer

log = logging.getLogger(__name__)

Offsets = dict[TopicPartition, int]
Partitions = Callable[[set[TopicPartition]], None]


class Source(Protocol):
    """What the scoring loop needs of a source (:class:`KafkaSource`, or the in-memory twin
    ``pipelines.kafka.memory.MemorySource``)."""

    def subscribe(self, on_revoked: Partitions, on_assigned: Partitions) -> None: ...

    def poll(self, timeout_ms: int, max_records: int) -> list[Record]: ...

    def commit(self, next_offsets: Offsets) -> None: ...

    def rewind(self, offsets: Offsets) -> None: ...

    def lag(self) -> dict[TopicPartition, int]: ...

    def close(self) -> None: ...


class _Listener(AsyncConsumerRebalanceListener):  # type: ignore[misc]
    """The source's callbacks, run where kafka-python 3 runs a rebalance listener: on the
    consumer's IO loop, where a blocking consumer call raises. So a commit made by
    ``on_revoked`` is sent without blocking (:meth:`KafkaSource.commit`) and awaited here,
    before the partitions move to another member."""

    def __init__(self, source: KafkaSource, on_revoked: Partitions,
                 on_assigned: Partitions) -> None:
        self._source = source
        self._on_revoked = on_revoked
        self._on_assigned = on_assigned

    async def on_partitions_revoked(self, revoked: Any) -> None:
        self._source.sent_commits = []
        try:
            self._on_revoked(set(revoked))
        finally:
            sent, self._source.sent_commits = self._source.sent_commits, None
        for offsets, future in sent:
            try:
                await future
            except KafkaError as exc:  # as a failed commit outside a rebalance: said, not fatal
                log.warning("commit of %s failed while its partitions were revoked (%s: %s); "
                            "their next owner may score their last events again",
                            _described(offsets), type(exc).__name__, exc)

    async def on_partitions_lost(self, lost: Any) -> None:
        await self.on_partitions_revoked(lost)  # its commit fails, and is said

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self._on_assigned(set(assigned))


def _described(offsets: Offsets) -> str:
    return ", ".join(f"{tp.topic}/{tp.partition}@{offset}"
                     for tp, offset in sorted(offsets.items()))


class KafkaSource:
    """A consumer in ``group_id`` over ``topics`` that never commits on its own; it joins
    the group at :meth:`subscribe`.

    ``on_revoked`` runs inside :meth:`poll` (and :meth:`close`) before partitions move to
    another member, so the caller can finish (or abandon) what it holds of them while it may
    still commit (its commits are awaited when it returns);
    ``on_assigned`` runs inside :meth:`poll` with the partitions this member owns now.
    """

    def __init__(
        self,
        config: dict[str, Any],
        *,
        topics: list[str],
        group_id: str,
        auto_offset_reset: str,
        max_poll_records: int,
        fetch_max_wait_ms: int,
        session_timeout_ms: int,
        heartbeat_interval_ms: int,
    ) -> None:
        self.topics = list(topics)
        #: Commits sent (not awaited) while ``on_revoked`` runs; None outside it.
        self.sent_commits: list[tuple[Offsets, Future]] | None = None
        self._consumer = new_consumer(
            config,
            group_id=group_id,
            auto_offset_reset=auto_offset_reset,
            max_poll_records=max_poll_records,
            session_timeout_ms=session_timeout_ms,
            heartbeat_interval_ms=heartbeat_interval_ms,
            fetch_max_wait_ms=fetch_max_wait_ms,
        )

    def subscribe(self, on_revoked: Partitions, on_assigned: Partitions) -> None:
        """Join the group (at the next :meth:`poll`); the callbacks run inside polls."""
        self._consumer.subscribe(self.topics,
                                 listener=_Listener(self, on_revoked, on_assigned))

    def poll(self, timeout_ms: int, max_records: int) -> list[Record]:
        """Records in partition order (each partition's records in offset order)."""
        batches = self._consumer.poll(timeout_ms=timeout_ms, max_records=max_records)
        if not batches:
            return []
        if len(batches) == 1:
            return list(next(iter(batches.values())))
        return [record for records in batches.values() for record in records]

    def commit(self, next_offsets: Offsets) -> None:
        """Commit, per partition, the offset of the next record to read (inside
        ``on_revoked``: sent now, awaited when it returns, before the partitions move)."""
        if not next_offsets:
            return
        offsets = {tp: OffsetAndMetadata(offset, "", -1) for tp, offset in next_offsets.items()}
        if self.sent_commits is not None:
            self.sent_commits.append((dict(next_offsets), self._consumer.commit_async(offsets)))
        else:
            self._consumer.commit(offsets)

    def rewind(self, offsets: Offsets) -> None:
        """Read these partitions again from these offsets (those still assigned)."""
        assigned = self._consumer.assignment()
        for tp, offset in offsets.items():
            if tp in assigned:
                self._consumer.seek(tp, offset)

    def lag(self) -> dict[TopicPartition, int]:
        """Records not yet read, per assigned partition, from the fetch high watermark."""
        lags = {}
        for tp in self._consumer.assignment():
            high = self._consumer.highwater(tp)
            if high is None:
                continue
            try:
                lags[tp] = max(0, high - self._consumer.position(tp, timeout_ms=0))
            except Exception:  # position unknown until the first fetch
                continue
        return lags

    def close(self) -> None:
        """Leave the group (so partitions move at once) and close."""
        self._consumer.close(autocommit=False)
