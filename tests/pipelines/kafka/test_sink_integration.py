"""The sinks against the session's real broker, each client alike (kafka-python and
confluent-kafka), records sent one or many at a time: where keys land, headers, refusals, and
what a wait says was not acked."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from streaminfer.operators.records import Record
from streaminfer.pipelines.kafka.confluent_sink import ConfluentSink
from streaminfer.pipelines.kafka.sink import KafkaSink, Sink, SinkError

pytestmark = pytest.mark.integration

CLIENTS = pytest.mark.parametrize("client", [KafkaSink, ConfluentSink],
                                  ids=["kafka-python", "confluent"])


def sink_of(client: type[Sink], config: dict[str, Any], linger_ms: int = 2) -> Sink:
    made: Sink = client(config, linger_ms=linger_ms,  # type: ignore[call-arg]
                        compression="none")
    return made


def test_a_key_lands_on_the_same_partition_with_either_client(
    kafka_config: dict[str, Any], topic_factory: Callable[..., str],
    read_all: Callable[[str], list[Record]],
) -> None:
    # The joiner meets a prediction and its label on one partition: the predictions' client
    # must place a key where the users' (Java, kafka-python) producers place its label.
    keys = [f"e{i}".encode() for i in range(64)]
    placed = {}
    for client, many in [(KafkaSink, False), (ConfluentSink, False), (ConfluentSink, True)]:
        topic = topic_factory(4)
        sink = sink_of(client, kafka_config)
        acks = sink.send_many(topic, [(key, b"{}") for key in keys]) if many else \
            [sink.send(topic, key, b"{}") for key in keys]
        assert sink.wait(acks, 10) == len(keys)
        sink.close()
        placed[client, many] = {r.key: r.partition for r in read_all(topic)}
    assert placed[KafkaSink, False] == placed[ConfluentSink, False] \
        == placed[ConfluentSink, True]
    assert len(set(placed[KafkaSink, False].values())) == 4  # spread, not all on one


@CLIENTS
def test_headers_and_a_chosen_partition_are_kept(
    client: type[Sink], kafka_config: dict[str, Any], topic_factory: Callable[..., str],
    read_all: Callable[[str], list[Record]],
) -> None:
    topic = topic_factory(3)
    sink = sink_of(client, kafka_config)
    acks = [sink.send(topic, b"k", b"v", [("error.type", b"invalid_json"), ("empty", b"")],
                      partition=2),
            sink.send(topic, None, b"")]  # a dead letter's keyless tombstone: no key, no value
    assert sink.wait(acks, 10) == 2
    sink.close()
    records = read_all(topic)
    headed = next(r for r in records if r.key == b"k")
    assert (headed.partition, headed.value) == (2, b"v")
    assert [tuple(h) for h in headed.headers] == [("error.type", b"invalid_json"),
                                                  ("empty", b"")]
    assert [(r.key, r.value) for r in records if r.key is None] == [(None, b"")]


@CLIENTS
def test_a_record_too_large_is_refused_at_send_and_the_sink_goes_on(
    client: type[Sink], kafka_config: dict[str, Any], topic_factory: Callable[..., str],
    read_all: Callable[[str], list[Record]],
) -> None:
    topic = topic_factory(1)
    sink = sink_of(client, kafka_config)
    with pytest.raises(SinkError, match=f"cannot send to {topic}"):
        sink.send(topic, b"big", b"x" * (2 << 20))
    assert sink.wait([sink.send(topic, b"small", b"ok")], 10) == 1
    sink.close()
    assert [(r.key, r.value) for r in read_all(topic)] == [(b"small", b"ok")]


@CLIENTS
def test_a_record_too_large_sent_with_many_fails_alone_or_with_those_after_it(
    client: type[Sink], kafka_config: dict[str, Any], topic_factory: Callable[..., str],
    read_all: Callable[[str], list[Record]],
) -> None:
    topic = topic_factory(2)
    sink = sink_of(client, kafka_config)
    records = [(b"a", b"1"), (b"big", b"x" * (2 << 20)), (b"c", b"3")]
    with pytest.raises(SinkError, match=f"records not acknowledged: cannot send to {topic}"
                       ) as refused:
        sink.wait(sink.send_many(topic, records), 10)
    failed = refused.value.failed
    assert failed is not None and failed[0] == 1  # librdkafka: (1,); kafka-python: (1, 2)
    assert sink.wait(sink.send_many(topic, [(b"d", b"4")]), 10) == 1  # the sink goes on
    sink.close()
    assert sorted(r.value for r in read_all(topic)) == sorted(
        [value for i, (_, value) in enumerate(records) if i not in failed] + [b"4"])


def test_records_sent_with_many_past_librdkafkas_queue_wait_for_room_and_all_land(
    kafka_config: dict[str, Any], topic_factory: Callable[..., str],
    read_all: Callable[[str], list[Record]],
) -> None:
    topic = topic_factory(2)
    sink = sink_of(ConfluentSink, kafka_config)
    count = 100_000 + 500  # librdkafka's queue.buffering.max.messages is 100,000
    assert sink.wait(sink.send_many(topic, [(None, b"%d" % i) for i in range(count)]),
                     60) == count
    sink.close()
    assert sorted(int(r.value or b"") for r in read_all(topic)) == list(range(count))


@CLIENTS
@pytest.mark.parametrize("many", [False, True], ids=["send", "send_many"])
def test_a_wait_out_of_time_names_every_record_not_yet_acknowledged(
    client: type[Sink], many: bool, kafka_config: dict[str, Any],
    topic_factory: Callable[..., str], read_all: Callable[[str], list[Record]],
) -> None:
    topic = topic_factory(1)
    sink = sink_of(client, kafka_config, linger_ms=500)
    acks = sink.send_many(topic, [(None, b"%d" % i) for i in range(3)]) if many else \
        [sink.send(topic, None, b"%d" % i) for i in range(3)]
    with pytest.raises(SinkError, match="3 of 3 records not acknowledged") as refused:
        sink.wait(acks, 0)
    assert refused.value.failed == (0, 1, 2)
    sink.close()  # they are the caller's to send again; here they land late
    assert sorted(r.value for r in read_all(topic)) == [b"0", b"1", b"2"]


@CLIENTS
def test_batches_on_their_way_together_are_awaited_one_at_a_time_in_any_order(
    client: type[Sink], kafka_config: dict[str, Any], topic_factory: Callable[..., str],
    read_all: Callable[[str], list[Record]],
) -> None:
    # The scoring loop sends a batch before awaiting the one before it.
    topic = topic_factory(2)
    sink = sink_of(client, kafka_config)
    first = [sink.send(topic, b"k%d" % i, b"first") for i in range(50)]
    second = sink.send_many(topic, [(b"k%d" % i, b"second") for i in range(30)])
    assert sink.send_many(topic, []) == []  # nothing to send: no ack, nothing to await
    assert sink.wait(second, 10) == 30
    assert sink.wait(first, 10) == 50
    sink.close()
    assert sorted(r.value for r in read_all(topic)) == [b"first"] * 50 + [b"second"] * 30
