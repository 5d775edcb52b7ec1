"""The worker's give-up path wired to a real broker: a batch given up is not committed, nor
is anything read after it, and the real consumer is rewound so that the partition's next
owner in the group scores it again. Real broker and model; the sink loses what it is sent
while the broker is "down". The rules themselves (retry, commit after every ack, give up
after the spec's attempts, revoke) are tested in milliseconds on the in-memory twin:
test_worker_loop.py."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import orjson
import pytest

from streaminfer.operators.model_runner import read_model_file
from streaminfer.pipelines.kafka.sink import KafkaSink, KeyedRecords, SinkError
from streaminfer.pipelines.kafka.topics import ensure_topics
from streaminfer.pipelines.runtime.assembly import build_scorer, load_model
from streaminfer.pipelines.runtime.model_backends import LocalModel
from streaminfer.pipelines.runtime.worker import ScoringLoop, make_sink

pytestmark = pytest.mark.integration


class DownSink:
    """A real sink behind a broker that is down until ``up`` is set: what is sent meanwhile
    is lost and the next flush refused. The first flush after ``up`` is still refused."""

    def __init__(self, sink: KafkaSink, up: threading.Event) -> None:
        self.sink, self.up = sink, up
        self.down, self.lost = True, 0
        self.refused = threading.Event()

    def send(self, *args, **kwargs) -> Any:
        if self.down:
            self.lost += 1
            return None
        return self.sink.send(*args, **kwargs)

    def send_many(self, topic: str, records: KeyedRecords) -> list[Any]:
        if self.down:
            self.lost += len(records)
            return [None] * len(records)
        return self.sink.send_many(topic, records)

    def wait(self, acks: Sequence[Any], timeout_s: float | None = None) -> int:
        if self.lost:
            self.lost, self.down = 0, not self.up.is_set()
            self.refused.set()
            raise SinkError("broker down")
        return self.sink.wait(acks, timeout_s)

    def close(self, timeout_s: float = 10.0) -> None:
        self.sink.close(timeout_s)


@pytest.fixture
def make_loop(pipeline_spec_factory, broker):
    """``make_loop(wrap=None, spec=None)`` -> (spec, loop, thread): a scoring loop on a fresh
    one-partition pipeline (or ``spec``), whose real Kafka sink ``wrap`` may wrap."""
    loops = []

    def make(wrap=None, spec=None):
        spec = spec or pipeline_spec_factory(
            partitions=1, batching={"max_size": 20, "max_wait_ms": 50})
        model = spec.model_specs[0]
        local = LocalModel(load_model(model, read_model_file(model.path)))
        sink = make_sink(spec, broker.bootstrap_servers, "w0")
        loop = ScoringLoop(spec, broker.bootstrap_servers,
                           build_scorer(spec, {model.model_name: local}), "w0",
                           sink=wrap(sink) if wrap else sink)
        thread = threading.Thread(target=loop.run, daemon=True)
        loops.append((loop, thread))
        return spec, loop, thread

    yield make
    for loop, thread in loops:
        loop.request_stop()
        thread.join(30)
        loop.close()


def test_events_read_after_a_batch_given_up_are_not_committed_past_it(
    make_loop, dataset_factory, make_events, produce, read_topic, committed_offsets, caplog,
    kafka_config,
):
    # The broker is down until the stop: the batch given up then must not be skipped by
    # committing the events read after it, which the broker accepts once it is up.
    up = threading.Event()
    down = None

    def wrap(sink):
        nonlocal down
        down = DownSink(sink, up)
        return down

    spec, loop, thread = make_loop(wrap)
    # as a pipeline's start does: the topic is there even when nothing reached it
    ensure_topics(kafka_config, {spec.sink.predictions_topic: 1}, create_missing=True)
    topic, count = spec.source.topics[0], 60
    produce(topic, make_events(dataset_factory("breast_cancer"), count)[1])
    thread.start()
    assert down.refused.wait(30)
    up.set()
    loop.request_stop()
    thread.join(30)
    assert not thread.is_alive()
    assert loop.stats().produce_retries >= 2
    assert any("abandoning" in r.getMessage() for r in caplog.records), "nothing given up"
    committed = committed_offsets(spec.source.group_id, topic).get(0, 0)
    assert committed < count  # the batch given up was not committed past
    predicted = {orjson.loads(r.value)["id"]
                 for r in read_topic(spec.sink.predictions_topic, committed, timeout_s=30)}
    # every event below the committed offset has a prediction ...
    assert {f"e{i}" for i in range(committed)} <= predicted
    # ... and the next owner of the partition reads the rest again: nothing is lost.
    delivered = loop.stats().predictions
    loop.close()  # leaves the group
    _, again, rerun = make_loop(spec=spec)
    rerun.start()
    everything = read_topic(spec.sink.predictions_topic, delivered + count - committed,
                            timeout_s=60)
    assert {orjson.loads(r.value)["id"] for r in everything} == {f"e{i}" for i in range(count)}
    again.request_stop()
    rerun.join(30)
    assert committed_offsets(spec.source.group_id, topic) == {0: count}
