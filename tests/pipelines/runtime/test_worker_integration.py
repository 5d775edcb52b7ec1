"""Several workers in one consumer group: sharing partitions, losing one, stopping cleanly."""

from __future__ import annotations

from collections import Counter

import orjson
import pytest
import ray

from streaminfer import Pipeline

pytestmark = pytest.mark.integration


def test_two_workers_share_partitions_and_a_killed_worker_loses_nothing(
    pipeline_factory, dataset_factory, feeder, watcher, record_property
):
    run = pipeline_factory(workers={"count": 2, "max_restarts": 0}, partitions=4)
    run.pipeline.wait_ready(60, balanced=True)  # wait_ready alone: covered, maybe not shared
    shares = {w.worker_id: set(w.assigned) for w in run.pipeline.stats().workers}
    assert len(shares) == 2 and all(len(s) == 2 for s in shares.values()), shares
    assert set.union(*shares.values()) == {f"{run.source_topic}/{p}" for p in range(4)}

    count = 3000
    feed = feeder(run.source_topic, dataset_factory("breast_cancer"), count, rate=1500)
    seen = watcher(run.predictions_topic)
    feed.start()
    assert seen.until(lambda: len(seen.seen) >= 1500)
    before = {w.worker_id: w.events_in for w in run.pipeline.stats().workers}
    assert all(n > 0 for n in before.values()), before  # both did work
    victim = run.pipeline.worker_names[0]
    ray.kill(ray.get_actor(victim, namespace=run.spec.ray.namespace), no_restart=True)

    expected = {f"e{i}" for i in range(count)}
    assert seen.until(lambda: expected <= set(seen.seen), timeout_s=120), (
        f"missing {len(expected - set(seen.seen))} predictions")
    feed.join(30)
    assert not feed.failed, feed.failed
    duplicates = sum(n - 1 for n in seen.seen.values())
    record_property("duplicates_after_kill", duplicates)
    print(f"at-least-once after killing {victim}: {count} events, {duplicates} duplicates")
    survivor = next(w for w in run.pipeline.stats().workers if w.worker_id != victim)
    assert len(survivor.assigned) == 4  # the partitions moved to the survivor


def _seed_group(kafka_config, group: str, topic: str, offsets: dict[int, int]) -> None:
    """Commit ``offsets`` for a group that has no members yet (as a restart would find)."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    consumer = KafkaConsumer(**kafka_config, group_id=group, enable_auto_commit=False)
    try:
        consumer.commit({TopicPartition(topic, p): OffsetAndMetadata(o, "", -1)
                         for p, o in offsets.items()})
    finally:
        consumer.close(autocommit=False)


def test_a_clean_stop_mid_stream_loses_and_duplicates_nothing(
    pipeline_factory, dataset_factory, kafka_config, feeder, watcher, read_topic, read_all,
    committed_offsets,
):
    run = pipeline_factory(workers={"count": 2}, partitions=4)
    count = 6000
    feed = feeder(run.source_topic, dataset_factory("breast_cancer"), count, rate=2000)
    seen = watcher(run.predictions_topic)
    feed.start()
    assert seen.until(lambda: len(seen.seen) >= 1500)
    first = run.pipeline.stop()  # mid-stream: finish open batches, commit, leave
    feed.join(60)
    assert not feed.is_alive() and not feed.failed, feed.failed
    assert 1500 <= first.predictions < count

    # What the stop committed is exactly what it produced: per partition, one prediction for
    # every offset below the committed one and none at or above it.
    committed = committed_offsets(run.spec.source.group_id, run.source_topic)
    produced = [orjson.loads(r.value) for r in read_topic(run.predictions_topic,
                                                          first.predictions)]
    assert len(produced) == first.predictions
    for partition in range(4):
        offsets = sorted(p["source"]["offset"] for p in produced
                         if p["source"]["partition"] == partition)
        assert offsets == list(range(committed.get(partition, 0))), partition

    # A restart from those offsets scores the rest, each event once. (It starts in a fresh
    # group seeded with the committed offsets: the embedded broker sometimes cannot rebalance
    # a group whose members all left, see docs/operations.md.)
    group = run.spec.source.group_id + "-restart"
    _seed_group(kafka_config, group, run.source_topic, committed)
    spec = run.spec.model_copy(update={
        "name": run.spec.name + "-2",
        "source": run.spec.source.model_copy(update={"group_id": group}),
    })
    with Pipeline(spec):
        assert len(read_topic(run.predictions_topic, count, timeout_s=120)) == count
    everything = read_all(run.predictions_topic)  # stopped: all there is, any extra too
    ids = Counter(orjson.loads(r.value)["id"] for r in everything)
    assert set(ids) == {f"e{i}" for i in range(count)}
    assert [i for i, n in ids.items() if n > 1] == []
