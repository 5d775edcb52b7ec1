"""The in-memory Kafka twin behaves as the loop relies on Kafka to behave."""

from __future__ import annotations

import pytest
from kafka.errors import CommitFailedError

from streaminfer.pipelines.kafka.memory import MemorySink, MemorySource
from streaminfer.pipelines.kafka.sink import SinkError


def test_poll_returns_each_partitions_records_in_offset_order_up_to_max_records():
    source = MemorySource("t", partitions=2)
    for i in range(3):
        source.append(1, f"b{i}".encode())
        source.append(0, f"a{i}".encode())
    assert source.poll(0, 10) == []  # not a member before subscribe
    source.subscribe(lambda tps: None, lambda tps: None)
    first = source.poll(0, 4)
    assert [(r.partition, r.offset, r.value) for r in first] == [
        (0, 0, b"a0"), (0, 1, b"a1"), (0, 2, b"a2"), (1, 0, b"b0")]
    assert [(r.partition, r.offset) for r in source.poll(0, 10)] == [(1, 1), (1, 2)]
    assert source.lag() == {source.partition(0): 0, source.partition(1): 0}


def test_revoke_runs_inside_poll_while_the_partitions_can_still_be_committed():
    source = MemorySource("t", partitions=2)
    seen = []

    def revoked(tps):
        seen.append(("revoked", tps, source.assignment))
        source.commit({source.partition(1): 1})  # still this member's

    source.subscribe(revoked, lambda tps: seen.append(("assigned", tps, None)))
    source.append(1, b"x")
    source.poll(0, 10)
    source.rebalance(revoke={1})
    assert source.assignment == {source.partition(0), source.partition(1)}  # not yet
    source.poll(0, 10)
    assert seen[-1] == ("revoked", {source.partition(1)},
                        {source.partition(0), source.partition(1)})
    assert source.assignment == {source.partition(0)}
    with pytest.raises(CommitFailedError):  # no longer owned
        source.commit({source.partition(1): 1})
    assert source.committed == {source.partition(1): 1}


def test_a_partition_assigned_again_is_read_from_its_committed_offset_and_rewind_moves_back():
    source = MemorySource("t")
    source.subscribe(lambda tps: None, lambda tps: None)
    for i in range(5):
        source.append(0, bytes([i]))
    assert len(source.poll(0, 10)) == 5
    source.commit({source.partition(0): 2})
    source.rewind({source.partition(0): 1})
    assert [r.offset for r in source.poll(0, 10)] == [1, 2, 3, 4]
    source.rebalance(revoke={0}, assign={0})
    assert [r.offset for r in source.poll(0, 10)] == [2, 3, 4]
    source.refuse_commits = 1
    with pytest.raises(CommitFailedError):
        source.commit({source.partition(0): 5})
    source.commit({source.partition(0): 5})
    assert source.commits == [{source.partition(0): 2}, {source.partition(0): 5}]


def test_the_sink_acknowledges_what_is_awaited_or_refuses_or_holds_records_pending():
    sink = MemorySink()
    first = sink.send("t", b"k", b"1", [("h", b"v")])
    later = sink.send("t", b"k", b"later")
    assert sink.values("t") == []  # not acknowledged before it is awaited
    assert sink.wait([first]) == 1
    assert sink.topics["t"][0].headers == (("h", b"v"),)
    assert sink.values("t") == [b"1"]  # only what was awaited
    assert sink.wait([later]) == 1
    sink.refuse(1)
    with pytest.raises(SinkError, match="1 of 1 records not acknowledged"):
        sink.wait([sink.send("t", None, b"2")])
    assert sink.values("t") == [b"1", b"later"] and sink.refused == 1  # lost
    sink.hold(1)
    with pytest.raises(SinkError, match="not acknowledged in time"):
        sink.wait([sink.send("t", None, b"3")])
    assert sink.wait([sink.send("t", None, b"3")]) == 1
    sink.release()  # the held one lands late: a duplicate, as with a slow broker
    assert sink.values("t") == [b"1", b"later", b"3", b"3"]
    sink.refuse_sends = True
    with pytest.raises(SinkError, match="before queueing"):
        sink.send("t", None, b"4")
