"""The join loop's delivery on the in-memory Kafka twin (no broker, no Ray, no thread): commit
only after every ack, send again only what was not acknowledged, give up after the spec's
attempts when stopping (uncommitted), and a successor that joins again without publishing
twice. Milliseconds each; the wiring to a real broker is proved by test_joiner_*integration.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import orjson

from streaminfer.pipelines.kafka.memory import MemorySink, MemoryTopics, Sent
from streaminfer.pipelines.runtime.joiner import JoinLoop, example_id
from streaminfer.pipelines.runtime.joiner_restore import Restored
from streaminfer.pipelines.spec.schema import PipelineSpec

NOWHERE = "127.0.0.1:9"  # never contacted: the consumers and the sink are in memory
SPEC = PipelineSpec.model_validate({
    "name": "p", "source": {"topics": ["events"], "group_id": "g", "features": ["a"]},
    "model": {"path": "m.onnx"},
    "sink": {"predictions_topic": "predictions", "dead_letter_topic": "dead",
             "delivery": {"attempts": 4, "backoff_s": [0.0]}},
    "feedback": {"labels_topic": "labels", "training_topic": "examples",
                 "flush_every_ms": 60_000},  # flushed by the tests (flush_due)
})
GROUP = "g-feedback"


def topics() -> MemoryTopics:
    return MemoryTopics({"predictions": 2, "labels": 2})


def read_back(sink: MemorySink) -> Callable[[dict[int, int]], Restored]:
    """A restore that reads the examples the sink stored (the training topic)."""

    def read(starts: dict[int, int]) -> Restored:
        restored = Restored()
        for p, start in starts.items():
            stored = [s for s in sink.topics.get("examples", []) if s.partition == p]
            restored.starts[p], restored.ends[p] = start, len(stored)
            restored.ids |= {example_id(s.value) for s in stored[start:]}
        return restored

    return read


def joiner(log: MemoryTopics, sink: MemorySink) -> JoinLoop:
    loop = JoinLoop(SPEC, NOWHERE, "j0", [0, 1], sink=sink, consumer=log.consumer,
                    read_back=read_back(sink))
    loop.start()  # the restore, as run() does first
    return loop


def feed(log: MemoryTopics, ids: range, partition: int) -> None:
    for i in ids:
        prediction = {"id": f"e{i}", "model": "m", "model_version": "1", "ts": 1_000,
                      "probabilities": [0.25, 0.75], "features": {"a": float(i)}}
        log.append("predictions", partition, orjson.dumps(prediction), f"e{i}".encode())
        log.append("labels", partition, orjson.dumps({"id": f"e{i}", "label": i % 2}),
                   f"e{i}".encode())


def flush_due(loop: JoinLoop) -> None:
    """One step whose flush is due (poll, join, deliver)."""
    loop._next_flush = 0.0
    loop.step()


def read_only(loop: JoinLoop) -> None:
    """One step whose flush is not due (poll, join)."""
    loop._next_flush = float("inf")
    loop.step()


def examples(sink: MemorySink) -> list[str]:
    return sorted(orjson.loads(v or b"{}")["id"] for v in sink.values("examples"))


def committed(log: MemoryTopics, group: str = GROUP,
              topics: tuple[str, ...] = ("predictions", "labels")) -> dict[tuple[str, int], int]:
    """Offsets ``group`` committed on ``topics``."""
    return {(tp.topic, tp.partition): o for tp, o in log.committed.get(group, {}).items()
            if tp.topic in topics}


def test_offsets_are_committed_only_after_every_example_is_acknowledged() -> None:
    log, sink = topics(), MemorySink()
    loop = joiner(log, sink)
    feed(log, range(0, 6), partition=0)
    feed(log, range(6, 10), partition=1)
    sink.refuse(6)  # more refusals than delivery.attempts: a running joiner does not give up
    commits: list[list[str]] = []
    commit = loop.consumer.commit

    def checked(offsets):  # type: ignore[no-untyped-def]
        commits.append(examples(sink))
        commit(offsets)

    loop.consumer.commit = checked  # type: ignore[method-assign]
    flush_due(loop)
    assert commits and all(seen == [f"e{i}" for i in range(10)] for seen in commits)
    assert examples(sink) == [f"e{i}" for i in range(10)]  # each once
    assert committed(log) == {("predictions", 0): 6, ("labels", 0): 6,
                              ("predictions", 1): 4, ("labels", 1): 4}
    assert committed(log, f"{GROUP}-read") == committed(log)  # marked before producing
    assert committed(log, topics=("examples",)) == {("examples", 0): 0, ("examples", 1): 0}
    assert sink.waits == 7 and loop.stats().produce_retries == 6
    assert [s.partition for s in sink.topics["examples"]] == [0] * 6 + [1] * 4


def test_a_partly_refused_flush_sends_again_only_what_was_not_acknowledged() -> None:
    log, sink = topics(), MemorySink()
    loop = joiner(log, sink)
    feed(log, range(0, 6), partition=0)
    feed(log, range(6, 10), partition=1)
    on_1: Callable[[Sent], bool] = lambda sent: sent.partition == 1  # noqa: E731
    sink.refuse(2, where=on_1)
    flush_due(loop)
    assert examples(sink) == [f"e{i}" for i in range(10)]  # each once: none stored twice
    assert sink.refused == 2 * 4 and sink.waits == 3
    assert committed(log)[("predictions", 1)] == 4


def test_a_stopping_joiner_gives_up_after_the_spec_attempts_uncommitted() -> None:
    log, sink = topics(), MemorySink()
    loop = joiner(log, sink)
    feed(log, range(0, 6), partition=0)
    read_only(loop)
    assert len(loop.outbox) == 6
    sink.refuse(None)
    loop.request_stop()
    loop.run()  # stopping: deliver what it holds, give up after the attempts
    assert sink.waits == 4 and sink.refused == 4 * 6 and examples(sink) == []
    assert log.committed.get(GROUP) is None and loop.stats().produce_retries == 4
    assert committed(log, f"{GROUP}-read")[("predictions", 0)] == 6
    loop.close()
    assert loop.consumer.closed and loop.marks.closed and sink.closed  # type: ignore[attr-defined]

    sink.refuse(0)
    again = joiner(log, MemorySink())  # its successor reads the records again and joins them
    flush_due(again)
    assert examples(again.sink) == [f"e{i}" for i in range(6)]  # type: ignore[arg-type]
    assert committed(log)[("predictions", 0)] == 6


def test_a_successor_does_not_publish_again_what_was_stored_before_a_give_up() -> None:
    log, sink = topics(), MemorySink()
    loop = joiner(log, sink)
    feed(log, range(0, 6), partition=0)
    feed(log, range(6, 10), partition=1)
    read_only(loop)
    sink.refuse(None, where=lambda sent: sent.partition == 1)
    loop.request_stop()
    loop.run()  # partition 0's examples stored, partition 1's refused until it gives up
    assert examples(sink) == [f"e{i}" for i in range(6)] and log.committed.get(GROUP) is None
    loop.close()

    sink.refuse(0)
    again = joiner(log, sink)  # reads back the six stored, joins the records again
    flush_due(again)
    assert examples(sink) == [f"e{i}" for i in range(10)]  # each once
    assert again.state.counts["replayed_match"] == 6
    assert committed(log)[("predictions", 1)] == 4


def test_a_running_joiner_retries_past_the_attempts_until_asked_to_stop() -> None:
    log, sink = topics(), MemorySink()
    loop = joiner(log, sink)
    feed(log, range(0, 3), partition=0)
    sink.refuse(None)
    wait = sink.wait

    def stopped_at_the_sixth(acks: Sequence[Sent], timeout_s: float | None = None) -> int:
        if sink.waits == 5:
            loop.request_stop()  # as the actor's drain does, from another thread
        return wait(acks, timeout_s)

    sink.wait = stopped_at_the_sixth  # type: ignore[method-assign]
    flush_due(loop)  # running: retries beyond delivery.attempts (4) until the stop
    assert sink.waits == 6 and examples(sink) == []
    loop.run()  # finish: attempts more, then gives up
    assert sink.waits == 6 + 4 and log.committed.get(GROUP) is None
    assert loop.stats().produce_retries == 10
