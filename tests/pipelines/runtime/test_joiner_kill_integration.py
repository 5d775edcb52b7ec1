"""A joiner killed mid-stream loses no example: its successor (Ray restarts it) reads again
from the offsets it committed, which never pass an entry still pending. Scaling the joiners
mid-stream (drain all, start the new number) loses none either. Duplicates, if any, are
byte-identical copies, and counted as ``replayed_match``."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import orjson
import pytest
import ray

from streaminfer.pipelines.feedback.status import fetch_metrics, parse_status
from streaminfer.pipelines.kafka.topic_reader import TopicReader
from streaminfer.waiting import wait_until

pytestmark = pytest.mark.integration

EVENTS = 600


class LabelSender(threading.Thread):
    """Sends the labels of e0..e<count-1> in batches of ``batch``, ``every_s`` apart."""

    def __init__(self, produce: Any, topic: str, records: Any, count: int, batch: int = 20,
                 every_s: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.produce, self.topic, self.records = produce, topic, records
        self.count, self.batch, self.every_s = count, batch, every_s
        self.sent = 0
        self.halt = threading.Event()
        self.failed: list[BaseException] = []

    def run(self) -> None:
        try:
            for start in range(0, self.count, self.batch):
                ids = [f"e{i}" for i in range(start, min(self.count, start + self.batch))]
                self.produce(self.topic, *self.records(ids, [i % 2 for i in range(len(ids))]))
                self.sent += len(ids)
                if self.halt.wait(self.every_s):
                    return
        except BaseException as exc:  # the test reports it
            self.failed.append(exc)


def every_example(config: dict[str, Any], topic: str) -> Counter[str]:
    """How often each of e0..e<EVENTS-1> is on the training topic, once all are there; a
    second copy must be the same example, byte for byte, with the label the test sent."""
    seen: Counter[str] = Counter()
    first: dict[str, bytes] = {}
    with TopicReader(config, [topic]) as reader:
        def all_out() -> bool:
            for record in reader.poll(timeout_ms=200):
                assert record.value is not None
                example = orjson.loads(record.value)
                seen[example["id"]] += 1
                assert first.setdefault(example["id"], record.value) == record.value
                assert example["label"] == int(example["id"][1:]) % 2
            return len(seen) == EVENTS

        assert wait_until(all_out, 120, every_s=0.0), f"{EVENTS - len(seen)} examples missing"
    return seen


def test_a_joiner_killed_mid_stream_loses_no_example(
    feedback_pipeline: Any, produce: Any, make_events: Any, dataset_factory: Any,
    read_topic: Any, label_records: Any, summary_of: Any, kafka_config: dict[str, Any],
) -> None:
    rp = feedback_pipeline(partitions=2)
    fb, spec = rp.spec.feedback, rp.spec
    keys, values = make_events(dataset_factory("breast_cancer"), EVENTS)
    produce(rp.source_topic, values, keys)
    assert len(read_topic(rp.predictions_topic, EVENTS)) == EVENTS

    sender = LabelSender(produce, fb.labels_topic, label_records, EVENTS)
    sender.start()
    try:
        # mid-stream: some examples out, labels still coming
        assert wait_until(lambda: summary_of(rp.pipeline).examples_out >= 100, 60)
        assert sender.is_alive() and sender.sent < EVENTS
        joiner = ray.get_actor(f"{spec.name}-joiner-0-0", namespace=spec.ray.namespace)
        ray.kill(joiner, no_restart=False)  # Ray restarts it: same partitions, fresh state
    finally:
        sender.join(120)
    assert not sender.failed and sender.sent == EVENTS

    seen = every_example(kafka_config, fb.training_topic)
    assert set(seen) == {f"e{i}" for i in range(EVENTS)}
    duplicates = sum(seen.values()) - EVENTS
    # every duplicate is counted: a join of two records its successor read again
    assert wait_until(
        lambda: summary_of(rp.pipeline).cases["replayed_match"] >= duplicates, 30
    ), (duplicates, summary_of(rp.pipeline).cases)
    print(f"examples: {EVENTS}, duplicates after the kill: {duplicates}, counted as possible: "
          f"{summary_of(rp.pipeline).cases['replayed_match']}")


def test_scaling_the_joiners_mid_stream_loses_no_example(
    feedback_pipeline: Any, produce: Any, make_events: Any, dataset_factory: Any,
    read_topic: Any, label_records: Any, summary_of: Any, kafka_config: dict[str, Any],
) -> None:
    rp = feedback_pipeline(partitions=2)
    fb = rp.spec.feedback
    keys, values = make_events(dataset_factory("breast_cancer"), EVENTS)
    produce(rp.source_topic, values, keys)
    assert len(read_topic(rp.predictions_topic, EVENTS)) == EVENTS

    sender = LabelSender(produce, fb.labels_topic, label_records, EVENTS)
    sender.start()
    try:
        assert wait_until(lambda: summary_of(rp.pipeline).examples_out >= 100, 60)
        assert sender.is_alive() and sender.sent < EVENTS
        rp.pipeline.scale_joiners(2)  # one joiner per partition from now on
    finally:
        sender.join(120)
    assert not sender.failed and sender.sent == EVENTS
    seen = every_example(kafka_config, fb.training_topic)
    assert set(seen) == {f"e{i}" for i in range(EVENTS)}
    duplicates = sum(seen.values()) - EVENTS
    assert wait_until(lambda: summary_of(rp.pipeline).joiners == 2
                      and summary_of(rp.pipeline).cases["replayed_match"] >= duplicates, 30)
    # the endpoint serves the new joiners' series only (the retired ones' ended)
    url = rp.pipeline.metrics_url
    new = {f"{rp.spec.name}-joiner-1-0", f"{rp.spec.name}-joiner-1-1"}
    assert wait_until(lambda: parse_status(fetch_metrics(url)).joiners == new, 30)
    cases = summary_of(rp.pipeline).cases
    print(f"examples: {EVENTS}, duplicates after scaling: {duplicates}, counted as possible: "
          f"{cases['replayed_match']}, re-read and expired: {cases['replayed_expired']}")
