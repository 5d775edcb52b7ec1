"""The sources against the session's real broker, each client alike (kafka-python and
confluent-kafka): what a revoke callback commits, commits made between polls once the source
closes, records with their headers, rewind, lag."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from streaminfer.pipelines.kafka.confluent import ConfluentSource
from streaminfer.pipelines.kafka.source import KafkaSource, Source
from tests.fixtures.kafka import FAST_GROUP, unique

pytestmark = pytest.mark.integration


CLIENTS = pytest.mark.parametrize("client", [KafkaSource, ConfluentSource],
                                  ids=["kafka-python", "confluent"])


def member(client: type[Source], config: dict[str, Any], topic: str, group: str) -> Source:
    made: Source = client(config, topics=[topic], group_id=group,  # type: ignore[call-arg]
                          auto_offset_reset="earliest", max_poll_records=100,
                          fetch_max_wait_ms=10, **FAST_GROUP)
    return made


@CLIENTS
def test_what_is_committed_before_and_in_the_revoke_callback_is_committed_before_the_move(
    client: type[Source], kafka_config: dict[str, Any], topic_factory: Callable[..., str],
    produce: Callable[..., None],
) -> None:
    # kafka-python 3 runs a rebalance listener on the consumer's IO loop, where a blocking
    # commit raises: the scoring loop finishing its batches there crashed its worker, and the
    # next owner scored them again. Now such a commit is sent there and awaited after it.
    # The confluent source sends a commit made between polls without waiting for the
    # broker: partition 1's must land before the partitions move too.
    topic, group = topic_factory(2), unique("g")
    produce(topic, [b"%d" % i for i in range(10)], partition=0)
    produce(topic, [b"%d" % i for i in range(10)], partition=1)
    first = member(client, kafka_config, topic, group)
    second = member(client, kafka_config, topic, group)
    read: list[int] = []
    revoked: list[set[TopicPartition]] = []

    def on_revoked(partitions: set[TopicPartition]) -> None:
        if partitions:  # (kafka-python says "none revoked" at a first join too)
            revoked.append(partitions)
            # What a worker finishing its batches commits: the offset after what it read.
            first.commit({tp: 10 for tp in partitions if tp.partition == 0})

    first.subscribe(on_revoked, lambda partitions: None)
    while len(read) < 20:
        read += [record.offset for record in first.poll(100, 100)]
    first.commit({TopicPartition(topic, 1): 10})  # a batch's commit, between polls
    second_owns = threading.Event()
    second.subscribe(lambda partitions: None,
                     lambda partitions: second_owns.set() if partitions else None)
    failed: list[BaseException] = []

    def poll_second() -> None:
        try:
            while not second_owns.is_set():
                second.poll(100, 100)
        except BaseException as exc:  # reported by the test
            failed.append(exc)
            second_owns.set()

    polling = threading.Thread(target=poll_second, daemon=True)
    polling.start()
    deadline = time.monotonic() + 60
    try:
        while not second_owns.is_set() and time.monotonic() < deadline:
            first.poll(100, 100)  # the revoke callback runs in here, and must not raise
        polling.join(10)
    finally:
        second_owns.set()
        first.close()
        second.close()
    assert not failed, failed
    assert revoked and revoked[0] == {TopicPartition(topic, 0), TopicPartition(topic, 1)}
    reader = KafkaConsumer(**kafka_config, group_id=group, enable_auto_commit=False)
    try:
        committed = {p: reader.committed(TopicPartition(topic, p)) for p in (0, 1)}
    finally:
        reader.close(autocommit=False)
    assert committed == {0: 10, 1: 10}


@CLIENTS
def test_commits_made_between_polls_are_on_the_broker_once_the_source_closes(
    client: type[Source], kafka_config: dict[str, Any], topic_factory: Callable[..., str],
    produce: Callable[..., None], committed_offsets: Callable[[str, str], dict[int, int]],
) -> None:
    # The confluent source sends such commits without waiting for the broker's answer: the
    # close awaits them. (A worker's last batch is committed just before its source closes.)
    topic, group = topic_factory(2), unique("g")
    produce(topic, [b"%d" % i for i in range(10)], partition=0)
    produce(topic, [b"%d" % i for i in range(10)], partition=1)
    source = member(client, kafka_config, topic, group)
    source.subscribe(lambda partitions: None, lambda partitions: None)
    try:
        read = 0
        deadline = time.monotonic() + 30
        while read < 20 and time.monotonic() < deadline:
            read += len(source.poll(100, 100))
        for offset in range(1, 11):  # a commit per batch, the last one the highest
            source.commit({TopicPartition(topic, 0): offset,
                           TopicPartition(topic, 1): min(offset, 7)})
    finally:
        source.close()
    assert read == 20
    assert committed_offsets(group, topic) == {0: 10, 1: 7}


@CLIENTS
def test_records_come_with_their_headers_in_offset_order_and_rewind_and_lag_are_exact(
    client: type[Source], kafka_config: dict[str, Any], topic_factory: Callable[..., str],
    produce: Callable[..., None],
) -> None:
    topic = topic_factory(2)
    produce(topic, [b"a%d" % i for i in range(30)], [b"k%d" % i for i in range(30)],
            partition=0)
    produce(topic, [b"b%d" % i for i in range(5)], partition=1)
    headed = KafkaProducer(**kafka_config)
    headed.send(topic, value=b"h", key=None, partition=1,
                headers=[("trace", b"t1"), ("empty", b"")])
    headed.flush()
    headed.close()
    source = member(client, kafka_config, topic, unique("g"))
    source.subscribe(lambda partitions: None, lambda partitions: None)
    try:
        read: list[Any] = []
        deadline = time.monotonic() + 30
        while len(read) < 36 and time.monotonic() < deadline:
            read += source.poll(100, 100)
        by_partition = {p: [r for r in read if r.partition == p] for p in (0, 1)}
        assert [r.offset for r in by_partition[0]] == list(range(30))
        assert [(r.key, r.value) for r in by_partition[0][:2]] == [(b"k0", b"a0"), (b"k1", b"a1")]
        assert [r.offset for r in by_partition[1]] == list(range(6))
        last = by_partition[1][-1]
        assert (last.key, last.value, last.topic) == (None, b"h", topic)
        assert [tuple(h) for h in last.headers] == [("trace", b"t1"), ("empty", b"")]
        assert all(r.timestamp > 1_700_000_000_000 for r in read)  # ms since the epoch
        assert source.lag() == {TopicPartition(topic, 0): 0, TopicPartition(topic, 1): 0}
        source.rewind({TopicPartition(topic, 0): 25})
        again: list[Any] = []
        while len(again) < 5 and time.monotonic() < deadline:
            again += source.poll(100, 100)
        assert [(r.partition, r.offset) for r in again] == [(0, o) for o in range(25, 30)]
    finally:
        source.close()
