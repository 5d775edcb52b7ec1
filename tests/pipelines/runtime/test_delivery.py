"""One delivery: retry by the spec's policy, commit only after an acknowledged attempt; an
outbox sends again only what was not acknowledged."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from streaminfer.pipelines.kafka.memory import MemorySink, Sent
from streaminfer.pipelines.kafka.sink import SinkError
from streaminfer.pipelines.runtime.delivery import Outbox, Outgoing, deliver
from streaminfer.pipelines.spec.delivery_spec import DeliverySpec

POLICY = DeliverySpec(attempts=3, backoff_s=(0.0, 0.0))


def refusing(times: int | None):
    calls: list[int] = []

    def produce(attempt: int) -> str:
        calls.append(attempt)
        if times is None or attempt <= times:
            raise SinkError(f"refused {attempt}")
        return f"acked at {attempt}"

    return produce, calls


def test_commit_follows_the_first_acknowledged_attempt_only():
    produce, calls = refusing(2)
    committed: list[str] = []
    retries: list[tuple[int, float]] = []
    done = deliver(produce, committed.append, policy=DeliverySpec(backoff_s=(0.0, 0.0)),
                   give_up=True, on_retry=lambda n, exc, pause: retries.append((n, pause)))
    assert done.delivered and done.attempts == 3 and done.result == "acked at 3"
    assert calls == [1, 2, 3] and committed == ["acked at 3"]
    assert retries == [(1, 0.0), (2, 0.0)]


def test_a_batch_is_given_up_after_the_policys_attempts_and_never_committed():
    produce, calls = refusing(None)
    committed: list[str] = []
    done = deliver(produce, committed.append, policy=DeliverySpec(attempts=5, backoff_s=(0,)),
                   give_up=True)
    assert not done.delivered and isinstance(done.error, SinkError)
    assert calls == [1, 2, 3, 4, 5] and committed == []


def test_without_giving_up_it_retries_until_stopped():
    produce, calls = refusing(None)
    stop = threading.Event()

    def retry(attempt, exc, pause):
        if attempt == 7:
            stop.set()

    done = deliver(produce, lambda _: None, policy=POLICY, give_up=False, stop=stop,
                   on_retry=retry)
    assert done.error is not None and calls == list(range(1, 9))


def test_pauses_come_from_the_policy_the_last_repeating():
    policy = DeliverySpec(attempts=5, backoff_s=(0.0, 0.001))
    assert [policy.pause_s(n) for n in (1, 2, 3, 9)] == [0.0, 0.001, 0.001, 0.001]


def test_an_error_that_is_not_retryable_propagates_uncommitted():
    committed: list[object] = []

    def produce(attempt: int) -> None:
        raise ValueError("a bug, not a refusal")

    with pytest.raises(ValueError):
        deliver(produce, committed.append, policy=POLICY, give_up=True)
    assert committed == []


def outbox_of(count: int) -> Outbox:
    box = Outbox()
    for i in range(count):
        box.add(Outgoing("t", None, str(i).encode(), partition=i % 2))
    return box


def test_an_outbox_delivered_with_partial_refusals_stores_each_record_once():
    sink, box = MemorySink(), outbox_of(6)
    sink.refuse(2, where=lambda sent: sent.partition == 1)
    done = deliver(lambda attempt: box.produce(sink, 1.0), lambda acked: None, policy=POLICY,
                   give_up=True)
    assert done.delivered and done.attempts == 3 and done.result == 3  # the last 3 acked
    assert sorted(sink.values("t")) == [str(i).encode() for i in range(6)]
    assert sink.refused == 2 * 3 and len(box) == 0


def test_an_outbox_whose_sink_cannot_say_which_failed_keeps_every_record():
    class Vague(MemorySink):
        def wait(self, acks: Sequence[Sent], timeout_s: float | None = None) -> int:
            super().wait(acks, timeout_s)
            raise SinkError("something was not acknowledged")

    box = outbox_of(4)
    with pytest.raises(SinkError, match="something"):
        box.produce(Vague(), 1.0)
    assert len(box) == 4


def test_an_outbox_refused_before_queueing_keeps_what_was_not_sent():
    sink, box = MemorySink(), outbox_of(3)
    sink.refuse_sends = True
    with pytest.raises(SinkError, match="before queueing"):
        box.produce(sink, 1.0)
    assert len(box) == 3 and sink.values("t") == []
    sink.refuse_sends = False
    assert box.produce(sink, 1.0) == 3 and len(box) == 0
    assert box.produce(sink, 1.0) == 0 and sink.waits == 2  # nothing left: no wait


def test_records_added_many_at_once_are_sent_in_order_with_the_others():
    sink, box = MemorySink(), Outbox()
    box.add(Outgoing("t", None, b"0"), sink)
    box.add_many("t", [(b"k1", b"1"), (None, b"2")], sink)
    box.add(Outgoing("dead", None, b"x", headers=(("h", b"v"),)), sink)
    box.add_many("t", [(b"k3", b"3")], sink)
    assert sink.values("t") == []  # sent, not acknowledged before the wait
    assert box.produce(sink, 1.0) == 5 and len(box) == 0 and sink.waits == 1
    assert [(s.key, s.value) for s in sink.topics["t"]] == [
        (None, b"0"), (b"k1", b"1"), (None, b"2"), (b"k3", b"3")]
    assert sink.topics["dead"][0].headers == (("h", b"v"),)


def test_records_added_many_at_once_and_refused_are_sent_again_alone():
    sink, box = MemorySink(), Outbox()
    box.add_many("t", [(b"k0", b"0"), (b"k1", b"1"), (b"k2", b"2")], sink)
    sink.refuse(1, where=lambda sent: sent.key == b"k1")
    with pytest.raises(SinkError, match="1 of 3 records not acknowledged: refused"):
        box.produce(sink, 1.0)
    assert box.records == [Outgoing("t", b"k1", b"1")]
    assert box.produce(sink, 1.0) == 1
    assert sorted(sink.values("t")) == [b"0", b"1", b"2"] and sink.refused == 1


def test_records_added_many_and_refused_before_queueing_are_kept_the_others_stored():
    sink, box = MemorySink(), Outbox()
    box.add_many("t", [(None, b"0")], sink)
    sink.refuse_sends = True
    box.add_many("t", [(None, b"1"), (None, b"2")], sink)
    with pytest.raises(SinkError, match="2 of 3 records not acknowledged: refused before"):
        box.produce(sink, 1.0)
    assert [r.value for r in box.records] == [b"1", b"2"] and sink.values("t") == [b"0"]
    sink.refuse_sends = False
    assert box.produce(sink, 1.0) == 2 and sink.values("t") == [b"0", b"1", b"2"]


def test_records_added_many_without_a_sink_are_sent_at_produce():
    sink, box = MemorySink(), Outbox()
    box.add_many("t", [(None, b"0"), (None, b"1")])
    assert box.produce(sink, 1.0) == 2 and sink.values("t") == [b"0", b"1"]
