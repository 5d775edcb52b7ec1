"""The scoring loop's delivery rules on the in-memory Kafka twin (a real model; no broker, no
Ray, no thread): commit only after every ack, retry then give up, revoke-on-rebalance, poison
batches, swaps at a batch boundary. Milliseconds each; the wiring to a real broker is proved
by test_worker_integration.py and test_worker_retries.py."""


from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from streaminfer.operators.model_runner import read_model_file
from streaminfer.operators.profile import build_profile
from streaminfer.pipelines.devtools.example_models import Dataset
from streaminfer.pipelines.kafka.memory import MemorySink, MemorySource
from streaminfer.pipelines.runtime.assembly import build_scorer, load_model
from streaminfer.pipelines.runtime.model_backends import LocalModel
from streaminfer.pipelines.runtime.worker import UNACKED_BATCHES, ScoringLoop
from streaminfer.pipelines.spec.config_io import deep_merge
from streaminfer.pipelines.spec.schema import PipelineSpec
from tests.fixtures.streams import events_of

NOWHERE = "127.0.0.1:9"  # never contacted: the source and sink are in memory


@pytest.fixture
def memory_spec(model_factory: Callable[[str], Path],
                dataset_factory: Callable[[str], Dataset]) -> Callable[..., PipelineSpec]:
    """``memory_spec(**overrides)`` -> a breast-cancer pipeline spec for the in-memory twin
    (batches of 20, closed as soon as polled; retries without pauses)."""

    def make(**overrides: Any) -> PipelineSpec:
        data = {
            "name": "memory",
            "kafka": {"bootstrap_servers": NOWHERE},
            "source": {"topics": ["events"], "group_id": "g", "id_field": "id",
                       "features": dataset_factory("breast_cancer").features},
            "model": {"path": str(model_factory("breast_cancer")), "version": "1"},
            "batching": {"max_size": 20, "max_wait_ms": 0},
            "sink": {"predictions_topic": "predictions", "dead_letter_topic": "dead",
                     "delivery": {"attempts": 4, "backoff_s": [0.0]}},
        }
        return PipelineSpec.model_validate(deep_merge(data, overrides))

    return make


def memory_loop(spec: PipelineSpec, source: MemorySource, sink: MemorySink) -> ScoringLoop:
    model = spec.model_specs[0]
    local = LocalModel(load_model(model, read_model_file(model.path)))
    return ScoringLoop(spec, NOWHERE, build_scorer(spec, {model.model_name: local}), "w0",
                       source=source, sink=sink)


def feed(source: MemorySource, dataset: Dataset, count: int, partition: int = 0,
         start: int = 0) -> None:
    keys, values = events_of(dataset, count, start)
    for key, value in zip(keys, values, strict=True):
        source.append(partition, value, key)


def steps_until(loop: ScoringLoop, done: Callable[[], bool], most: int = 1_000) -> None:
    for _ in range(most):
        if done():
            return
        loop.step()
    raise AssertionError("the loop did not get there")


def ids(sink: MemorySink, topic: str = "predictions") -> list[str]:
    return [orjson.loads(v or b"{}")["id"] for v in sink.values(topic)]


def test_offsets_are_committed_only_after_every_prediction_is_acknowledged(
    memory_spec, dataset_factory
):
    source, sink = MemorySource(partitions=2), MemorySink()
    loop = memory_loop(memory_spec(), source, sink)
    feed(source, dataset_factory("breast_cancer"), 50, partition=0)
    feed(source, dataset_factory("breast_cancer"), 30, partition=1, start=50)
    sink.refuse(2)  # the first batch is refused twice (its records lost), then acked
    commit = source.commit

    def checked(offsets):
        predicted = set(ids(sink))
        for tp, end in offsets.items():
            below = {orjson.loads(r.value)["id"] for r in source.log[tp][:end]}
            assert below <= predicted, f"{tp} committed to {end} before its acks"
        commit(offsets)

    source.commit = checked
    steps_until(loop, lambda: sum(source.committed.values()) == 80)
    assert sorted(ids(sink)) == sorted(f"e{i}" for i in range(80))  # each once: none lost
    assert source.committed == {source.partition(0): 50, source.partition(1): 30}
    assert sink.waits == len(source.commits) + 2
    assert loop.stats().produce_retries == 2


def test_a_batchs_acks_are_awaited_when_the_fourth_after_it_is_sent_and_at_once_when_idle(
    memory_spec, dataset_factory
):
    source, sink = MemorySource(), MemorySink()
    loop = memory_loop(memory_spec(), source, sink)
    feed(source, dataset_factory("breast_cancer"), 120)  # six batches of 20
    calls: list[str] = []
    prepare, wait = loop.scorer.prepare, sink.wait
    loop.scorer.prepare = lambda records: calls.append("score") or prepare(records)
    sink.wait = lambda acks, timeout_s=None: calls.append("acks") or wait(acks, timeout_s)
    steps_until(loop, lambda: len(loop.sent) == UNACKED_BATCHES == 4)
    assert source.commits == [] and sink.values("predictions") == []  # none awaited yet
    steps_until(loop, lambda: source.committed.get(source.partition(0)) == 120)
    # The broker's answer overlaps the next batches' work and the producer's linger; the
    # last four, with nothing read after them, are awaited by the step that found nothing.
    assert calls == ["score"] * 5 + ["acks", "score"] + ["acks"] * 5
    assert [c[source.partition(0)] for c in source.commits] == [20, 40, 60, 80, 100, 120]
    assert ids(sink) == [f"e{i}" for i in range(120)]
    assert (loop.stats().predictions, loop.stats().batches) == (120, 6)


def test_a_retry_sends_again_only_the_outputs_the_broker_did_not_acknowledge(
    memory_spec, dataset_factory
):
    source, sink = MemorySource(), MemorySink()
    loop = memory_loop(memory_spec(), source, sink)
    feed(source, dataset_factory("breast_cancer"), 8)
    source.append(0, b"not json")
    feed(source, dataset_factory("breast_cancer"), 7, start=8)
    sink.refuse(1, where=lambda sent: sent.topic == "dead")  # predictions land, the letter not
    steps_until(loop, lambda: source.committed.get(source.partition(0)) == 16)
    assert sorted(ids(sink)) == sorted(f"e{i}" for i in range(15))  # each once
    assert sink.values("dead") == [b"not json"]
    assert sink.waits == 2 and sink.refused == 1
    assert loop.stats().produce_retries == 1


def test_a_batch_refused_while_leaving_is_given_up_after_the_spec_attempts_uncommitted(
    memory_spec, dataset_factory
):
    source, sink = MemorySource(), MemorySink()
    loop = memory_loop(memory_spec(), source, sink)  # delivery.attempts: 4
    feed(source, dataset_factory("breast_cancer"), 15)
    steps_until(loop, lambda: len(loop.batcher) == 15)
    sink.refuse(None)
    loop.request_stop()
    loop.run()  # stopping: finish what it holds, give up after the attempts
    assert sink.waits == 4 and sink.refused == 4 * 15
    assert source.commits == [] and loop.stats().batches == 0
    assert loop.stats().produce_retries == 4
    assert source.positions == {source.partition(0): 0}  # read again from its first record


def test_a_running_loop_retries_until_acked_then_a_stop_gives_up_and_a_successor_rereads(
    memory_spec, dataset_factory
):
    source, sink = MemorySource(), MemorySink()
    loop = memory_loop(memory_spec(), source, sink)
    data = dataset_factory("breast_cancer")
    feed(source, data, 20)
    steps_until(loop, lambda: len(source.commits) == 1)
    feed(source, data, 40, start=20)
    sink.refuse(None)
    waits = sink.waits
    # A running loop retries without end: stop it from the sink's tenth refusal.
    wait = sink.wait

    def counted(acks, timeout_s=None):
        if sink.waits - waits >= 10:
            loop.request_stop()
        return wait(acks, timeout_s)

    sink.wait = counted
    loop.run()
    assert source.committed == {source.partition(0): 20}  # nothing past the batch given up
    assert sorted(ids(sink)) == sorted(f"e{i}" for i in range(20))
    loop.close()
    sink.wait, sink._refusals = wait, 0  # the broker is back
    successor = memory_loop(memory_spec(), source, sink)
    steps_until(successor, lambda: source.committed.get(source.partition(0)) == 60)
    assert sorted(ids(sink)) == sorted(f"e{i}" for i in range(60))


def test_a_revoked_member_delivers_and_commits_what_it_holds_before_the_partitions_move(
    memory_spec, dataset_factory
):
    source, sink = MemorySource(partitions=2), MemorySink()
    spec = memory_spec(batching={"max_size": 1000, "max_wait_ms": 60_000})
    loop = memory_loop(spec, source, sink)
    feed(source, dataset_factory("breast_cancer"), 10, partition=0)
    feed(source, dataset_factory("breast_cancer"), 10, partition=1, start=10)
    steps_until(loop, lambda: len(loop.batcher) == 20)
    assert source.commits == []  # held: the batch is still open
    source.rebalance(revoke={1})
    loop.step()  # the revoke runs inside the poll, while partition 1 is still this member's
    assert source.commits == [{source.partition(0): 10, source.partition(1): 10}]
    assert sorted(ids(sink)) == sorted(f"e{i}" for i in range(20))
    assert source.assignment == {source.partition(0)}
    assert loop.stats().assigned == ["events/0"]
    feed(source, dataset_factory("breast_cancer"), 5, partition=1, start=20)
    loop.step()
    assert len(loop.batcher) == 0  # nothing read from a partition it no longer owns


def test_a_revoke_while_the_broker_refuses_leaves_the_batch_uncommitted_for_the_next_owner(
    memory_spec, dataset_factory
):
    source, sink = MemorySource(partitions=2), MemorySink()
    spec = memory_spec(batching={"max_size": 1000, "max_wait_ms": 60_000})
    loop = memory_loop(spec, source, sink)
    feed(source, dataset_factory("breast_cancer"), 10, partition=1)
    steps_until(loop, lambda: len(loop.batcher) == 10)
    sink.refuse(None)
    source.rebalance(revoke={1})
    loop.step()
    assert sink.waits == 4 and source.commits == []  # given up after the spec's attempts
    assert source.committed.get(source.partition(1)) is None  # the next owner reads it all


def test_a_poison_batch_is_dead_lettered_record_by_record_and_committed(
    memory_spec, dataset_factory
):
    source, sink = MemorySource(), MemorySink()
    loop = memory_loop(memory_spec(), source, sink)
    data = dataset_factory("breast_cancer")
    feed(source, data, 5)
    for bad in (b"not json", b"[1, 2]", b'{"id": "x"}', None):
        source.append(0, bad)
    feed(source, data, 5, start=5)
    steps_until(loop, lambda: source.committed.get(source.partition(0)) == 14)
    assert sorted(ids(sink)) == sorted(f"e{i}" for i in range(10))
    letters = sink.topics["dead"]
    # The keyless tombstone's dead letter carries an empty value and says it was null.
    assert [s.value for s in letters] == [b"not json", b"[1, 2]", b'{"id": "x"}', b""]
    assert dict(letters[3].headers)["source.nulls"] == b"value"
    for letter in letters:
        headers = dict(letter.headers)
        assert headers["source.topic"] == b"events", headers
    assert loop.stats().dead_letter_total == 4
    feed(source, data, 3, start=10)  # and the loop goes on
    steps_until(loop, lambda: source.committed.get(source.partition(0)) == 17)


def test_a_swap_applies_at_a_batch_boundary_every_event_once(memory_spec, dataset_factory):
    source, sink = MemorySource(), MemorySink()
    spec = memory_spec()
    loop = memory_loop(spec, source, sink)
    feed(source, dataset_factory("breast_cancer"), 140)
    steps_until(loop, lambda: len(source.commits) == 2)
    model = spec.model_specs[0].model_copy(update={"version": "2"})
    applied = loop.swaps.replace(model.model_name,
                               LocalModel(load_model(model, read_model_file(model.path))))
    steps_until(loop, lambda: source.committed.get(source.partition(0)) == 140)
    assert applied.is_set()
    versions = [orjson.loads(v)["model_version"] for v in sink.values("predictions")]
    # Batches of 20: the change between two. Two were committed, and the next four, sent
    # before the swap (UNACKED_BATCHES), awaited their acks: 120 scored by version 1.
    assert versions == ["1"] * 120 + ["2"] * 20
    assert ids(sink) == [f"e{i}" for i in range(140)]


def test_a_batch_awaiting_its_acks_across_a_swap_counts_its_drift_against_its_own_profile(
    memory_spec, dataset_factory
):
    # Its acks are awaited after the swap has changed the profile: counted then against the
    # new one, its bins (of another shape) crashed the worker at the loop demo's promote.
    source, sink = MemorySource(), MemorySink()
    spec = memory_spec()
    model = spec.model_specs[0]
    data = dataset_factory("breast_cancer")
    scored = load_model(model, read_model_file(model.path)).predict_rows(
        data.X.astype("float32"))
    first = build_profile(data.features, data.X, scored, bins=10)
    second = build_profile(data.features, data.X, scored, bins=4)
    local = LocalModel(load_model(model, read_model_file(model.path)))
    loop = ScoringLoop(spec, NOWHERE, build_scorer(spec, {model.model_name: local}), "w0",
                       source=source, sink=sink, profiles={model.model_name: first})
    feed(source, data, 120)  # six batches of 20
    steps_until(loop, lambda: len(source.commits) == 1 and bool(loop.sent))
    v2 = model.model_copy(update={"version": "2"})
    loop.swaps.replace(model.model_name, LocalModel(load_model(v2, read_model_file(v2.path))),
                       lambda: loop.drift.use(model.model_name, second))
    steps_until(loop, lambda: source.committed.get(source.partition(0)) == 120)
    counts = loop.stats().drift
    # one committed and four sent (UNACKED_BATCHES) before the swap
    assert {key: c.rows for key, c in counts.items()} == {
        (model.model_name, "1"): 100, (model.model_name, "2"): 20}
    assert len(counts[(model.model_name, "1")].features[0]) != \
        len(counts[(model.model_name, "2")].features[0])  # each against its own bins
    assert loop.drift.failed == {}


def test_a_batch_given_up_drops_the_one_sent_after_it_and_reads_both_again(
    memory_spec, dataset_factory
):
    source, sink = MemorySource(), MemorySink()
    loop = memory_loop(memory_spec(), source, sink)
    feed(source, dataset_factory("breast_cancer"), 60)
    steps_until(loop, lambda: len(loop.sent) == 2)
    sink.refuse(None)
    loop.request_stop()
    loop.finish()  # the first is given up after the spec's attempts, and with it the rest
    assert sink.waits == 4 and source.commits == [] and not loop.sent
    assert [r.offset for r in source.poll(0, 100)] == list(range(60))  # from the first one


def test_a_failed_commit_is_counted_and_the_loop_goes_on(memory_spec, dataset_factory):
    source, sink = MemorySource(), MemorySink()
    loop = memory_loop(memory_spec(), source, sink)
    feed(source, dataset_factory("breast_cancer"), 40)
    source.refuse_commits = 1
    steps_until(loop, lambda: source.committed.get(source.partition(0)) == 40)
    assert loop.stats().commit_failures == 1
    assert len(ids(sink)) == 40  # produced once: a commit failure is no produce retry


def test_the_loop_closes_its_injected_source_and_sink(memory_spec):
    source, sink = MemorySource(), MemorySink()
    loop = memory_loop(memory_spec(), source, sink)
    loop.close()
    assert source.closed and sink.closed


def test_a_batch_failing_in_the_model_is_scored_row_by_row_and_committed(
    memory_spec, poison_model
):
    source, sink = MemorySource(), MemorySink()
    spec = memory_spec(model={"path": str(poison_model)},
                       source={"features": ["a", "poison"]})
    loop = memory_loop(spec, source, sink)
    for i in range(40):
        source.append(0, orjson.dumps({"id": f"e{i}", "a": float(i),
                                       "poison": 1 if i % 10 == 3 else 0}))
    steps_until(loop, lambda: source.committed.get(source.partition(0)) == 40)
    predictions = [orjson.loads(v or b"{}") for v in sink.values("predictions")]
    assert sorted(p["id"] for p in predictions) == sorted(
        f"e{i}" for i in range(40) if i % 10 != 3)
    assert all(p["score"] == float(p["id"][1:]) for p in predictions)  # each its own row
    letters = sink.topics["dead"]
    assert sorted(orjson.loads(s.value or b"{}")["id"] for s in letters) == [
        "e13", "e23", "e3", "e33"]
    for letter in letters:
        headers = {name: value.decode() for name, value in letter.headers}
        assert headers["error.type"] == "model_error" and headers["error.stage"] == "model"
        assert "reshape" in headers["error.message"].lower()
    assert loop.stats().model_batch_failures == 2  # batches of 20: each held two poison rows


def test_batches_bounded_by_bytes_score_every_event_once_and_a_stop_drains_them_all(
    memory_spec, dataset_factory
):
    source, sink = MemorySource(partitions=1), MemorySink()
    dataset = dataset_factory("breast_cancer")
    _, values = events_of(dataset, 3)
    limit = sum(len(v) for v in values)  # three events' bytes; at least two events fit
    spec = memory_spec(batching={"max_size": 1000, "max_wait_ms": 60_000, "max_bytes": limit})
    loop = memory_loop(spec, source, sink)
    sizes: list[int] = []
    prepare = loop.scorer.prepare

    def counted(records):
        sizes.append(sum(len(r.value) for r in records))
        return prepare(records)

    loop.scorer.prepare = counted  # type: ignore[method-assign]
    feed(source, dataset, 25)
    steps_until(loop, lambda: len(ids(sink)) >= 9)  # full batches leave before their wait
    loop.finish()  # the rest: several batches, each within the bound
    assert sorted(ids(sink)) == sorted(f"e{i}" for i in range(25))
    assert len(ids(sink)) == 25
    assert all(size <= limit for size in sizes) and len(sizes) >= 25 // 3
