"""``produce_lines`` fails with one BrokerError that names the topic, never a RuntimeError."""

from __future__ import annotations

from typing import Any

import pytest
from kafka.errors import KafkaConnectionError, KafkaTimeoutError

from streaminfer.errors import BrokerError
from streaminfer.pipelines.devtools import topic_tools


class Future:
    def __init__(self, ok: bool) -> None:
        self.ok = ok
        self.exception = None if ok else KafkaTimeoutError("no ack")

    def succeeded(self) -> bool:
        return self.ok


class Producer:
    def __init__(self, acks: list[bool], fail_send: bool = False, **_: Any) -> None:
        self.acks = iter(acks)
        self.fail_send = fail_send
        self.closed = False
        self.sent: list[tuple[bytes | None, bytes]] = []

    def send(self, topic: str, key: bytes | None, value: bytes) -> Future:
        if self.fail_send:
            raise KafkaTimeoutError("Failed to update metadata after 60.0 secs.")
        self.sent.append((key, value))
        return Future(next(self.acks))

    def flush(self) -> None: ...

    def close(self) -> None:
        self.closed = True


def use(monkeypatch: pytest.MonkeyPatch, producer: Any) -> None:
    monkeypatch.setattr(topic_tools, "KafkaProducer", lambda **config: producer)


def test_lines_are_sent_byte_for_byte_with_their_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    producer = Producer([True, True])
    use(monkeypatch, producer)
    sent = topic_tools.produce_lines({}, "t", [b'{"id": 7}\n', b"\n", b"not json\r\n"],
                                     key_field="id")
    assert sent == 2 and producer.closed
    assert producer.sent == [(b"7", b'{"id": 7}'), (None, b"not json")]


def test_records_not_acknowledged_are_a_broker_error(monkeypatch: pytest.MonkeyPatch) -> None:
    use(monkeypatch, Producer([True, False]))
    with pytest.raises(BrokerError, match="1 of 2 records to topic t were not acknowledged"):
        topic_tools.produce_lines({}, "t", [b"{}", b"{}"])


def test_a_failed_send_is_a_broker_error_naming_the_topic(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    producer = Producer([], fail_send=True)
    use(monkeypatch, producer)
    with pytest.raises(BrokerError, match=r"sending to topic t failed.*--topic"):
        topic_tools.produce_lines({}, "t", [b"{}"])
    assert producer.closed


def test_no_broker_is_a_broker_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(**_: Any) -> Any:
        raise KafkaConnectionError()

    monkeypatch.setattr(topic_tools, "KafkaProducer", refuse)
    with pytest.raises(BrokerError, match="cannot reach Kafka at k:1"):
        topic_tools.produce_lines({"bootstrap_servers": "k:1"}, "t", [b"{}"])
