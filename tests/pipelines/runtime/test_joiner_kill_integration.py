"""A joiner killed mid-stream loses no example: its successor (Ray restarts it) reads again
from the offsets it committed, which never pass an entry still pending (here every
partition's head stays unlabelled, so the successor reads every prediction again).
Scaling the joiners mid-stream (drain all, start the new number) loses none either, and
publishes none twice: the successor restores the ids already on the training topic, so a
prediction read again whose example is published is counted as ``replayed_match`` and
dropped, and a later, different label for it is a ``duplicate_label``."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson
import pytest
import ray

from streaminfer.errors import PipelineError
from streaminfer.pipelines.feedback.status import fetch_metrics, parse_status
from streaminfer.pipelines.kafka.topic_reader import TopicReader
from streaminfer.pipelines.runtime.crash_loop import DIED_UNSAID
from streaminfer.waiting import wait_until

pytestmark = pytest.mark.integration

EVENTS = 600


class LabelSender(threading.Thread):
    """Sends the labels (``i % 2``) of e0..e<count-1> but ``skip`` in batches of ``batch``,
    ``every_s`` apart."""

    def __init__(self, produce: Any, topic: str, records: Any, count: int, batch: int = 20,
                 every_s: float = 0.1, skip: frozenset[str] = frozenset()) -> None:
        super().__init__(daemon=True)
        self.produce, self.topic, self.records = produce, topic, records
        self.count, self.batch, self.every_s, self.skip = count, batch, every_s, skip
        self.sent = 0
        self.halt = threading.Event()
        self.failed: list[BaseException] = []

    def run(self) -> None:
        try:
            for start in range(0, self.count, self.batch):
                ids = [f"e{i}" for i in range(start, min(self.count, start + self.batch))
                       if f"e{i}" not in self.skip]
                self.produce(self.topic, *self.records(ids, [int(i[1:]) % 2 for i in ids]))
                self.sent += len(ids)
                if self.halt.wait(self.every_s):
                    return
        except BaseException as exc:  # the test reports it
            self.failed.append(exc)


def every_example(config: dict[str, Any], topic: str,
                  wanted: set[str] | None = None) -> Counter[str]:
    """How often each id of ``wanted`` (default: e0..e<EVENTS-1>) is on the training topic,
    once all are there; a second copy must be the same example, byte for byte, with the label
    the test sent first."""
    wanted = wanted if wanted is not None else {f"e{i}" for i in range(EVENTS)}
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
            return len(seen) == len(wanted)

        assert wait_until(all_out, 120, every_s=0.0), \
            f"{len(wanted) - len(seen)} examples missing"
        assert set(seen) == wanted
    return seen


def label_mid_stream(rp: Any, produce: Any, make_events: Any, dataset_factory: Any,
                     read_topic: Any, label_records: Any, summary_of: Any,
                     change: Callable[[], None]) -> None:
    """Score EVENTS events, then send their labels and, once 100 examples are out while labels
    still come, make the ``change`` (a kill, a scale); returns when every label was sent."""
    keys, values = make_events(dataset_factory("breast_cancer"), EVENTS)
    produce(rp.source_topic, values, keys)
    assert len(read_topic(rp.predictions_topic, EVENTS)) == EVENTS

    sender = LabelSender(produce, rp.spec.feedback.labels_topic, label_records, EVENTS)
    sender.start()
    try:
        # mid-stream: some examples out, labels still coming
        assert wait_until(lambda: summary_of(rp.pipeline).examples_out >= 100, 60)
        assert sender.is_alive() and sender.sent < EVENTS
        change()
    finally:
        sender.join(120)
    assert not sender.failed and sender.sent == EVENTS


def test_joiners_that_crash_again_and_again_stop_the_pipeline_with_one_line(
    feedback_pipeline: Any, summary_of: Any,
) -> None:
    rp = feedback_pipeline(partitions=1, joiners={"count": 1, "num_cpus": 0.25,
                                                  "max_restarts": 5,
                                                  "crash_loop": {"max_crashes": 2}})
    spec = rp.spec

    def pid() -> int | None:
        joiner = ray.get_actor(f"{spec.name}-joiner-0-0", namespace=spec.ray.namespace)
        try:
            return int(ray.get(joiner.stats.remote(False), timeout=5).pid)
        except ray.exceptions.RayError:  # restarting
            return None

    # The driver finds a crash by reading a joiner's run before and after it: let it read
    # the first run before the first kill.
    assert wait_until(lambda: summary_of(rp.pipeline).joiners == 1, 30)
    for crashes in (1, 2):
        before = pid()
        joiner = ray.get_actor(f"{spec.name}-joiner-0-0", namespace=spec.ray.namespace)
        ray.kill(joiner, no_restart=False)
        if crashes == 1:  # the restart is seen as a crash before the next kill
            assert wait_until(lambda b=before: pid() not in (None, b), 60)
            assert wait_until(lambda: summary_of(rp.pipeline).last_crash == DIED_UNSAID, 30)

    def failed() -> PipelineError | None:
        try:
            rp.pipeline.stats()
        except PipelineError as exc:
            return exc
        return None

    assert wait_until(lambda: failed() is not None, 60)
    line = str(failed())
    assert line.startswith(f"joiners crashed 2 times in 60 s with: {DIED_UNSAID}; stopped.")
    assert "feedback.joiners.crash_loop" in line and "\n" not in line


def test_scaling_the_joiners_mid_stream_loses_no_example(
    feedback_pipeline: Any, produce: Any, make_events: Any, dataset_factory: Any,
    read_topic: Any, label_records: Any, summary_of: Any, kafka_config: dict[str, Any],
) -> None:
    rp = feedback_pipeline(partitions=2)
    fb = rp.spec.feedback
    label_mid_stream(rp, produce, make_events, dataset_factory, read_topic, label_records,
                     summary_of, lambda: rp.pipeline.scale_joiners(2))  # a joiner per partition
    seen = every_example(kafka_config, fb.training_topic)
    assert set(seen) == {f"e{i}" for i in range(EVENTS)}
    assert sum(seen.values()) == EVENTS  # none published twice
    assert wait_until(lambda: summary_of(rp.pipeline).joiners == 2, 30)
    # the endpoint serves the new joiners' series only (the retired ones' ended)
    url = rp.pipeline.metrics_url
    new = {f"{rp.spec.name}-joiner-1-0", f"{rp.spec.name}-joiner-1-1"}
    assert wait_until(lambda: parse_status(fetch_metrics(url)).joiners == new, 30)
    cases = summary_of(rp.pipeline).cases
    print(f"examples: {EVENTS}, read again and already published: {cases['replayed_match']}, "
          f"re-read and expired: {cases['replayed_expired']}")


def test_a_joiner_killed_mid_stream_keeps_the_first_label(
    feedback_pipeline: Any, produce: Any, make_events: Any, dataset_factory: Any,
    read_topic: Any, read_all: Any, label_records: Any, summary_of: Any,
    kafka_config: dict[str, Any], partition_heads: Any,
) -> None:
    """The first prediction of each partition stays unlabelled: the commit never passes it,
    so the successor reads every prediction again, joined or not."""
    rp = feedback_pipeline(partitions=2, prediction_wait_s=600, label_wait_s=600)
    fb, spec = rp.spec.feedback, rp.spec
    keys, values = make_events(dataset_factory("breast_cancer"), EVENTS)
    produce(rp.source_topic, values, keys)
    held = frozenset(partition_heads(read_topic(rp.predictions_topic, EVENTS)))
    wanted = {f"e{i}" for i in range(EVENTS)} - held

    sender = LabelSender(produce, fb.labels_topic, label_records, EVENTS, skip=held)
    sender.start()
    try:
        assert wait_until(lambda: summary_of(rp.pipeline).examples_out >= 100, 60)
        assert sender.is_alive() and sender.sent < len(wanted)
        joiner = ray.get_actor(f"{spec.name}-joiner-0-0", namespace=spec.ray.namespace)
        ray.kill(joiner, no_restart=False)  # Ray restarts it: same partitions, fresh state
    finally:
        sender.join(120)
    assert not sender.failed and sender.sent == len(wanted)
    seen = every_example(kafka_config, fb.training_topic, wanted)
    assert sum(seen.values()) == len(wanted)  # none published twice
    # exact: the successor published what its predecessor had not, and dropped the rest
    assert wait_until(lambda: summary_of(rp.pipeline).cases["replayed_match"]
                      + summary_of(rp.pipeline).examples_out == len(wanted), 30), \
        (summary_of(rp.pipeline).cases, summary_of(rp.pipeline).examples_out)
    replayed = summary_of(rp.pipeline).cases["replayed_match"]
    assert replayed > 0
    # The driver sees the restart as a crash (at its next reading): the process said nothing.
    assert wait_until(lambda: summary_of(rp.pipeline).last_crash == DIED_UNSAID, 30)

    ids = sorted(wanted)
    produce(fb.labels_topic, *label_records(ids, [1 - int(i[1:]) % 2 for i in ids]))
    assert wait_until(
        lambda: summary_of(rp.pipeline).cases["duplicate_label"] >= len(ids), 60
    ), summary_of(rp.pipeline).cases
    cases = summary_of(rp.pipeline).cases
    assert cases["duplicate_label"] == len(ids) and cases["replayed_match"] == replayed
    examples = [orjson.loads(r.value) for r in read_all(fb.training_topic)]
    assert Counter(e["id"] for e in examples) == Counter(ids)
    assert all(e["label"] == int(e["id"][1:]) % 2 for e in examples)
