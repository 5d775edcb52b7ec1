"""Send a file of JSON events to a topic, and show a topic's records: ``produce``/``tail``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from kafka import KafkaProducer
from kafka.errors import KafkaError

from streaminfer.errors import BrokerError
from streaminfer.operators.records import Record


def produce_lines(
    config: dict[str, Any], topic: str, lines: Iterable[bytes], *, key_field: str | None = None
) -> int:
    """Send each non-empty line as one record, byte for byte (bad lines too: the pipeline
    dead-letters them). The key is the line's ``key_field`` value when it has one."""
    try:
        producer = KafkaProducer(**config, acks="all", linger_ms=5)
    except KafkaError as exc:
        raise BrokerError(f"cannot reach Kafka at {config.get('bootstrap_servers')}: {exc}; "
                          "check --bootstrap-servers") from None
    sent = 0
    futures = []
    try:
        for line in lines:
            value = line.rstrip(b"\r\n")
            if not value.strip():
                continue
            futures.append(producer.send(topic, key=_key(value, key_field), value=value))
            sent += 1
        producer.flush()
    except KafkaError as exc:
        raise BrokerError(f"sending to topic {topic} failed after {sent} records: {exc}; "
                          "check that the topic exists (--topic)") from None
    finally:
        producer.close()
    failed = [f for f in futures if not f.succeeded()]
    if failed:
        raise BrokerError(f"{len(failed)} of {sent} records to topic {topic} were not "
                          f"acknowledged: {failed[0].exception}")
    return sent


def _key(value: bytes, key_field: str | None) -> bytes | None:
    if key_field is None:
        return None
    try:
        event = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(event, dict) or event.get(key_field) is None:
        return None
    return str(event[key_field]).encode()


def describe(record: Record) -> dict[str, Any]:
    """A record as a JSON-friendly dict: the value decoded when it is JSON."""
    try:
        value: Any = orjson.loads(record.value) if record.value is not None else None
    except orjson.JSONDecodeError:
        value = (record.value or b"").decode("utf-8", "replace")
    out: dict[str, Any] = {
        "topic": record.topic, "partition": record.partition, "offset": record.offset,
        "key": record.key.decode("utf-8", "replace") if record.key is not None else None,
        "value": value,
    }
    if record.headers:
        out["headers"] = {k: None if v is None else v.decode("utf-8", "replace")
                          for k, v in record.headers}
    return out
