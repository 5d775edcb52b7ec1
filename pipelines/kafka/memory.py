"""An in-memory twin of the Kafka source and sink, for tests of the runtime's logic.

:class:`MemorySource` has :class:`~streaminfer.pipelines.kafka.source.KafkaSource`'s interface
(poll with partitions and offsets, commit, rewind, lag, revoke and assign callbacks that run
inside :meth:`MemorySource.poll` as Kafka's do) over partitions that a test appends records
to and rebalances at will. :class:`MemorySink` has
:class:`~streaminfer.pipelines.kafka.sink.KafkaSink`'s: records sent are acknowledged when
they are awaited (:meth:`MemorySink.wait`), unless the test made the next waits refuse them
or hold them pending (a wait then times out, and held records may still land later, as with
a broker).
:class:`MemoryTopics` holds topics and committed offsets for consumers with manually assigned
partitions (:class:`MemoryConsumer`, the joiner's). No thread, no wait: a poll answers at once.

>>> source, sink = MemorySource("events", partitions=2), MemorySink()
>>> source.subscribe(lambda tps: None, lambda tps: None)
>>> _ = source.append(1, b'{"id": 1}')
>>> [(r.partition, r.offset) for r in source.poll(100, 10)]
[(1, 0)]
>>> sink.wait([sink.send("out", None, b"x")])
1
>>> sink.values("out")
[b'x']
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kafka import TopicPartition
from kafka.errors import CommitFailedError
from kafka.structs import OffsetAndMetadata

from streaminfer.operators.records import Record, SourceRecord
from streaminfer.pipelines.kafka.sink import KeyedRecords, SinkError, acknowledged
from streaminfer.pipelines.kafka.source import Offsets, Partitions


def _ignore(tps: set[TopicPartition]) -> None:
    return None


class MemorySource:
    """Partitions ``0..partitions-1`` of ``topic`` in memory, read by one group member.

    The member owns every partition from its first :meth:`poll` after :meth:`subscribe` (a
    group join); :meth:`rebalance` moves partitions away or back at the next poll. A partition
    newly owned is read from its committed offset (else from the start).
    """

    def __init__(self, topic: str = "events", partitions: int = 1) -> None:
        self.topic = topic
        self.log: dict[TopicPartition, list[SourceRecord]] = {
            TopicPartition(topic, p): [] for p in range(partitions)}
        self.committed: dict[TopicPartition, int] = {}
        self.commits: list[Offsets] = []  # every commit, in order
        self.positions: dict[TopicPartition, int] = {}
        self.closed = False
        self.refuse_commits = 0  # the next commits raise CommitFailedError
        self._on_revoked: Partitions = _ignore
        self._on_assigned: Partitions = _ignore
        self._changes: deque[tuple[str, set[TopicPartition]]] = deque()

    @property
    def assignment(self) -> set[TopicPartition]:
        return set(self.positions)

    def partition(self, number: int) -> TopicPartition:
        return TopicPartition(self.topic, number)

    def append(self, partition: int, value: bytes | None, key: bytes | None = None,
               headers: list[tuple[str, bytes]] | None = None) -> SourceRecord:
        """Write one record to a partition (its offset is the next one)."""
        records = self.log[self.partition(partition)]
        record = SourceRecord(self.topic, partition, len(records), 0, key, value,
                              list(headers or []))
        records.append(record)
        return record

    def subscribe(self, on_revoked: Partitions, on_assigned: Partitions) -> None:
        self._on_revoked, self._on_assigned = on_revoked, on_assigned
        self._changes.append(("assign", set(self.log)))

    def rebalance(self, *, revoke: Iterable[int] = (), assign: Iterable[int] = ()) -> None:
        """At the next poll: take ``revoke`` away (``on_revoked`` runs first, while this
        member may still commit them), then give ``assign``."""
        if revoked := {self.partition(p) for p in revoke}:
            self._changes.append(("revoke", revoked))
        if assigned := {self.partition(p) for p in assign}:
            self._changes.append(("assign", assigned))

    def poll(self, timeout_ms: int, max_records: int) -> list[Record]:
        """Up to ``max_records`` records, partition after partition, each in offset order."""
        while self._changes:
            kind, tps = self._changes.popleft()
            if kind == "revoke":
                owned = tps & self.assignment
                self._on_revoked(owned)
                for tp in owned:
                    del self.positions[tp]
            else:
                for tp in tps:
                    self.positions.setdefault(tp, self.committed.get(tp, 0))
                self._on_assigned(self.assignment)
        out: list[Record] = []
        for tp in sorted(self.positions):
            take = self.log[tp][self.positions[tp]:self.positions[tp] + max_records - len(out)]
            out += take
            self.positions[tp] += len(take)
        return out

    def commit(self, next_offsets: Offsets) -> None:
        """Commit; like Kafka, a partition this member no longer owns cannot be committed."""
        if not next_offsets:
            return
        lost = set(next_offsets) - self.assignment
        if self.refuse_commits or lost:
            self.refuse_commits = max(0, self.refuse_commits - 1)
            raise CommitFailedError(f"not committed (partitions not owned: {sorted(lost)})")
        self.commits.append(dict(next_offsets))
        self.committed.update(next_offsets)

    def rewind(self, offsets: Offsets) -> None:
        for tp, offset in offsets.items():
            if tp in self.positions:
                self.positions[tp] = offset

    def lag(self) -> dict[TopicPartition, int]:
        return {tp: len(self.log[tp]) - pos for tp, pos in self.positions.items()}

    def close(self) -> None:
        self.closed = True
        self.positions.clear()


@dataclass(frozen=True)
class Sent:
    """One record as a producer sent it."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()
    partition: int | None = None  # None: by its key


@dataclass(frozen=True)
class Unsent:
    """The ack of a record :meth:`MemorySink.send_many` refused before queueing it."""

    record: Sent


class MemorySink:
    """Topics in memory that hold what was acknowledged, in order.

    :meth:`send` gives the record itself (a :class:`Sent`) as its acknowledgement to await.
    ``refuse(n)``: the next ``n`` waits (``None``: all) report a refusal and their records
    are lost (``refuse(n, where)``: only those ``where`` matches, the others are stored);
    ``hold(n)``: the next ``n`` waits time out with the records pending, which land (late:
    duplicates of a retry) at :meth:`release`; ``refuse_sends``: :meth:`send` itself raises
    (no metadata, record too large), and :meth:`send_many` gives acks that its wait reports
    as refused. A refused wait says which records it refused
    (:attr:`SinkError.failed`). ``waits`` counts the waits.
    """

    def __init__(self) -> None:
        self.topics: dict[str, list[Sent]] = {}
        self.waits = 0
        self.refused = 0  # records refused so far
        self.refuse_sends = False
        self.closed = False
        self._held: list[Sent] = []
        self._refusals: int | None = 0
        self._refused_where: Callable[[Sent], bool] | None = None
        self._holds = 0

    def refuse(self, waits: int | None, where: Callable[[Sent], bool] | None = None) -> None:
        """The next ``waits`` waits (``None``: all) refuse the records ``where`` matches
        (default: all of them); the others of those waits are stored."""
        self._refusals, self._refused_where = waits, where

    def hold(self, waits: int) -> None:
        self._holds = waits

    def release(self) -> None:
        """The held records are acknowledged after all (the broker was only slow)."""
        held, self._held = self._held, []
        self._write(held)

    def values(self, topic: str) -> list[bytes | None]:
        return [s.value for s in self.topics.get(topic, [])]

    def send(self, topic: str, key: bytes | None, value: bytes | None,
             headers: list[tuple[str, bytes]] | None = None,
             partition: int | None = None) -> Sent:
        if self.refuse_sends:
            raise SinkError(f"cannot send to {topic}: refused before queueing")
        return Sent(topic, key, value, tuple(headers or ()), partition)

    def send_many(self, topic: str, records: KeyedRecords) -> list[Sent | Unsent]:
        """The records themselves; with ``refuse_sends``, each an :class:`Unsent`."""
        if self.refuse_sends:
            return [Unsent(Sent(topic, key, value)) for key, value in records]
        return [Sent(topic, key, value) for key, value in records]

    def wait(self, acks: Sequence[Sent | Unsent], timeout_s: float | None = None) -> int:
        """Acknowledge these records (store them), or raise :class:`SinkError` with the
        positions of those not acknowledged (the others are stored)."""
        self.waits += 1
        failed: dict[int, object] = {i: "refused before queueing"
                                     for i, ack in enumerate(acks) if isinstance(ack, Unsent)}
        queued = [(i, ack) for i, ack in enumerate(acks) if isinstance(ack, Sent)]
        if self._refusals is None or self._refusals > 0:
            if self._refusals is not None:
                self._refusals -= 1
            where = self._refused_where
            refused = [i for i, sent in queued if where is None or where(sent)]
            self.refused += len(refused)
            failed.update((i, f"refused (wait {self.waits})") for i in refused)
        elif self._holds > 0:
            self._holds -= 1
            self._held += [sent for _, sent in queued]
            failed.update((i, None) for i, _ in queued)  # None: not acknowledged in time
        self._write([sent for i, sent in queued if i not in failed])
        return acknowledged(len(acks), failed)

    def _write(self, records: list[Sent]) -> None:
        for record in records:
            self.topics.setdefault(record.topic, []).append(record)

    def close(self, timeout_s: float = 10.0) -> None:
        self.closed = True


class MemoryTopics:
    """Topics in memory and the offsets each group committed on them, read by consumers with
    manually assigned partitions (kafka-python's ``KafkaConsumer.assign``: the joiner's)."""

    def __init__(self, partitions: Mapping[str, int]) -> None:
        """``partitions``: how many each topic has."""
        self.log: dict[TopicPartition, list[SourceRecord]] = {
            TopicPartition(topic, p): [] for topic, count in partitions.items()
            for p in range(count)}
        self.committed: dict[str | None, dict[TopicPartition, int]] = {}

    def append(self, topic: str, partition: int, value: bytes | None,
               key: bytes | None = None, timestamp: int = 0) -> SourceRecord:
        """Write one record to a partition (its offset is the next one)."""
        records = self.log[TopicPartition(topic, partition)]
        record = SourceRecord(topic, partition, len(records), timestamp, key, value)
        records.append(record)
        return record

    def consumer(self, group_id: str | None) -> MemoryConsumer:
        """A consumer committing under ``group_id``."""
        return MemoryConsumer(self, group_id)


class MemoryConsumer:
    """The part of kafka-python's ``KafkaConsumer`` a manually assigned reader uses: assign,
    poll (a dict of records by partition), committed, commit, close. A partition assigned is
    read from its group's committed offset (else from the start)."""

    def __init__(self, topics: MemoryTopics, group_id: str | None) -> None:
        self.topics, self.group_id = topics, group_id
        self.positions: dict[TopicPartition, int] = {}
        self.commits: list[Offsets] = []  # every commit, in order
        self.refuse_commits = 0  # the next commits raise CommitFailedError
        self.closed = False

    def assign(self, tps: Iterable[TopicPartition]) -> None:
        self.positions = {tp: self.committed(tp) or 0 for tp in tps}

    def poll(self, timeout_ms: int = 0, max_records: int = 500
             ) -> dict[TopicPartition, list[Record]]:
        out: dict[TopicPartition, list[Record]] = {}
        room = max_records
        for tp in sorted(self.positions):
            take = self.topics.log[tp][self.positions[tp]:self.positions[tp] + room]
            if take:
                out[tp] = list(take)
                self.positions[tp] += len(take)
                room -= len(take)
        return out

    def committed(self, tp: TopicPartition) -> int | None:
        return self.topics.committed.get(self.group_id, {}).get(tp)

    def commit(self, offsets: Mapping[TopicPartition, Any]) -> None:
        """Commit (values: offsets, or ``OffsetAndMetadata``)."""
        if self.refuse_commits:
            self.refuse_commits -= 1
            raise CommitFailedError("not committed (refused by the test)")
        plain = {tp: o.offset if isinstance(o, OffsetAndMetadata) else int(o)
                 for tp, o in offsets.items()}
        self.commits.append(plain)
        self.topics.committed.setdefault(self.group_id, {}).update(plain)

    def close(self, autocommit: bool = False) -> None:
        self.closed = True
