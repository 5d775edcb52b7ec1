"""LagProbe against the session's real broker: exact committed offsets, end offsets and lag."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from streaminfer.errors import BrokerError
from streaminfer.operators.partition_lag import PartitionLag
from streaminfer.pipelines.kafka.lag_probe import LagProbe
from streaminfer.pipelines.online.scaling_rules import PartitionState, decide, observe
from streaminfer.pipelines.spec.schema import WorkerAutoscaleSpec

pytestmark = pytest.mark.integration

Produce = Callable[..., None]


def fill(produce: Produce, topic: str, counts: dict[int, int]) -> None:
    for partition, count in counts.items():
        if count:
            produce(topic, [b'{"n": %d}' % i for i in range(count)], partition=partition)


def commit(config: dict[str, Any], group: str, topic: str, offsets: dict[int, int]) -> None:
    """Commit for ``group`` as a plain kafka-python consumer would (assigned, no join)."""
    consumer = KafkaConsumer(**config, group_id=group, enable_auto_commit=False)
    try:
        consumer.assign([TopicPartition(topic, p) for p in offsets])
        consumer.commit({TopicPartition(topic, p): OffsetAndMetadata(o, "", -1)
                         for p, o in offsets.items()})
    finally:
        consumer.close(autocommit=False)


def by_partition(measured: dict[TopicPartition, PartitionLag]) -> dict[int, PartitionLag]:
    return {tp.partition: lag for tp, lag in measured.items()}


def test_committed_end_and_lag_are_exact(
    kafka_config: dict[str, Any], topic_factory: Callable[..., str], produce: Produce,
) -> None:
    topic = topic_factory(4)
    # 3000 records in one partition make several record batches: there the broker's
    # ListOffsets(latest) answers below the end (see docs/architecture.md); the probe must not.
    fill(produce, topic, {0: 3000, 1: 10, 2: 0, 3: 777})
    commit(kafka_config, "g-exact", topic, {0: 1500, 3: 777})
    with LagProbe(kafka_config, [topic], "g-exact") as probe:
        assert probe.partitions == [TopicPartition(topic, p) for p in range(4)]
        assert by_partition(probe.measure()) == {
            0: PartitionLag(committed=1500, end=3000, lag=1500),
            1: PartitionLag(committed=None, end=10, lag=10),  # from the start ("earliest")
            2: PartitionLag(committed=None, end=0, lag=0),
            3: PartitionLag(committed=777, end=777, lag=0),
        }
        # Fresh numbers on every call: new records and new commits show at once.
        fill(produce, topic, {2: 5, 3: 1})
        commit(kafka_config, "g-exact", topic, {0: 2999, 1: 4})
        assert by_partition(probe.measure()) == {
            0: PartitionLag(committed=2999, end=3000, lag=1),
            1: PartitionLag(committed=4, end=10, lag=6),
            2: PartitionLag(committed=None, end=5, lag=5),
            3: PartitionLag(committed=777, end=778, lag=1),
        }


def test_without_commits_latest_means_no_lag_yet(
    kafka_config: dict[str, Any], topic_factory: Callable[..., str], produce: Produce,
) -> None:
    topic = topic_factory(2)
    fill(produce, topic, {0: 20, 1: 3})
    with LagProbe(kafka_config, [topic], "g-latest", auto_offset_reset="latest") as probe:
        assert by_partition(probe.measure()) == {
            0: PartitionLag(committed=None, end=20, lag=0),
            1: PartitionLag(committed=None, end=3, lag=0),
        }


def test_several_topics_are_measured_together(
    kafka_config: dict[str, Any], topic_factory: Callable[..., str], produce: Produce,
) -> None:
    first, second = topic_factory(2), topic_factory(1)
    fill(produce, first, {0: 4, 1: 0})
    fill(produce, second, {0: 9})
    commit(kafka_config, "g-two", second, {0: 2})
    with LagProbe(kafka_config, [first, second], "g-two") as probe:
        measured = probe.measure()
    assert {(tp.topic, tp.partition): m.lag for tp, m in measured.items()} == {
        (first, 0): 4, (first, 1): 0, (second, 0): 7}


def test_the_probe_joins_no_group(
    kafka_config: dict[str, Any], topic_factory: Callable[..., str], produce: Produce,
) -> None:
    """A real member of the group gets every partition while the probe measures the group,
    and the probe sees that member's commits."""
    topic = topic_factory(4)
    fill(produce, topic, {p: 50 for p in range(4)})
    group = "g-member"
    with LagProbe(kafka_config, [topic], group) as probe:
        probe.measure()
        member = KafkaConsumer(**kafka_config, group_id=group, enable_auto_commit=False,
                               auto_offset_reset="earliest", session_timeout_ms=6000,
                               heartbeat_interval_ms=500)
        try:
            member.subscribe([topic])
            read: dict[TopicPartition, int] = {}
            deadline = time.monotonic() + 30
            while sum(read.values()) < 200 and time.monotonic() < deadline:
                for tp, records in member.poll(timeout_ms=100).items():
                    read[tp] = read.get(tp, 0) + len(records)
                probe.measure()  # the probe keeps measuring while the member joins
            assert member.assignment() == {TopicPartition(topic, p) for p in range(4)}
            assert sum(read.values()) == 200
            member.commit()
            assert {m.lag for m in probe.measure().values()} == {0}
            assert {m.committed for m in probe.measure().values()} == {50}
        finally:
            member.close(autocommit=False)


def test_a_partition_whose_offset_stays_is_found_stuck_from_real_measurements(
    kafka_config: dict[str, Any], topic_factory: Callable[..., str], produce: Produce,
) -> None:
    """Real numbers from the broker, a fake clock: partition 0's committed offset stays at
    100 while records keep arriving; partition 1 is committed as it goes."""
    topic = topic_factory(2)
    group = "g-stuck"
    spec = WorkerAutoscaleSpec(enabled=True, target_lag_per_worker=100, stuck_after_s=30,
                               scale_up_cooldown_s=0)
    fill(produce, topic, {0: 300, 1: 300})
    commit(kafka_config, group, topic, {0: 100, 1: 100})
    states: dict[TopicPartition, PartitionState] = {}
    with LagProbe(kafka_config, [topic], group) as probe:
        for step, now in enumerate((0.0, 15.0, 31.0)):
            fill(produce, topic, {0: 50, 1: 50})
            commit(kafka_config, group, topic, {1: 300 + 50 * step})
            states = observe(states, probe.measure(), now)
        decision = decide(states, now=31.0, workers=1, partitions=2, last_change_at=None,
                          spec=spec)
    assert decision.stuck == (TopicPartition(topic, 0),)
    assert decision.lag == 350 + 50 and decision.counted_lag == 50
    assert (decision.direction, decision.target) == ("hold", 1)  # 50 per worker: in band


def test_a_missing_topic_is_one_clear_error(kafka_config: dict[str, Any]) -> None:
    with pytest.raises(BrokerError, match="topic no-such-topic-x does not exist"):
        LagProbe(kafka_config, ["no-such-topic-x"], "g", timeout_s=1.0)


def test_the_probe_is_used_from_another_thread(
    kafka_config: dict[str, Any], topic_factory: Callable[..., str], produce: Produce,
) -> None:
    """The autoscaler builds the probe in the driver and measures in its thread."""
    topic = topic_factory(1)
    fill(produce, topic, {0: 12})
    probe = LagProbe(kafka_config, [topic], "g-thread")
    out: list[dict[TopicPartition, PartitionLag]] = []
    thread = threading.Thread(target=lambda: out.append(probe.measure()))
    thread.start()
    thread.join(30)
    probe.close()
    assert out == [{TopicPartition(topic, 0): PartitionLag(None, 12, 12)}]
