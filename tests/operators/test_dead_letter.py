"""dead_letter(): the original record unchanged, plus headers naming the error and origin."""

from __future__ import annotations

from streaminfer.operators.dead_letter import (
    ERROR_MESSAGE,
    ERROR_STAGE,
    ERROR_TYPE,
    SOURCE_NULLS,
    SOURCE_OFFSET,
    SOURCE_PARTITION,
    SOURCE_TOPIC,
    dead_letter,
)
from streaminfer.operators.records import RecordError, SourceRecord


def _record(**changes: object) -> SourceRecord:
    fields: dict[str, object] = {
        "topic": "events", "partition": 3, "offset": 12345, "timestamp": 1_700_000_000_000,
        "key": b"k-1", "value": b'{"id": "e1", "a": "high"}', "headers": [],
    }
    fields.update(changes)
    return SourceRecord(**fields)  # type: ignore[arg-type]


def test_the_original_key_and_value_bytes_are_kept_unchanged() -> None:
    value = b"\xff\x00not json at all\x80"
    record = _record(key=b"\x00\x01key", value=value)
    letter = dead_letter(record, RecordError("invalid_json", "not valid JSON: x", "decode"))
    assert letter.key == b"\x00\x01key"
    assert letter.value == value
    assert letter.error_type == "invalid_json"


def test_a_tombstone_and_a_keyless_record_stay_none() -> None:
    letter = dead_letter(_record(value=None),
                         RecordError("empty_value", "record has no value", "decode"))
    assert letter.key == b"k-1" and letter.value is None
    letter = dead_letter(_record(key=None), RecordError("invalid_json", "not JSON", "decode"))
    assert letter.key is None and letter.value == b'{"id": "e1", "a": "high"}'
    assert SOURCE_NULLS not in dict(letter.headers)


def test_a_keyless_tombstone_is_carried_as_an_empty_value_named_in_source_nulls() -> None:
    """Kafka producers refuse a record with neither key nor value."""
    letter = dead_letter(_record(key=None, value=None),
                         RecordError("empty_record", "empty record (no key, no value)",
                                     "decode"))
    assert letter.key is None and letter.value == b""
    assert dict(letter.headers)[SOURCE_NULLS] == b"value"


def test_a_null_header_value_is_carried_as_empty_bytes_named_in_source_nulls() -> None:
    """Kafka producers refuse a header whose value is null (a consumer reads it as None)."""
    record = _record(headers=[("trace", None), ("ok", b"1"), ("span", None)])
    letter = dead_letter(record, RecordError("invalid_json", "not JSON", "decode"))
    assert letter.headers[:3] == [("trace", b""), ("ok", b"1"), ("span", b"")]
    assert all(isinstance(value, bytes) for _, value in letter.headers)
    assert dict(letter.headers)[SOURCE_NULLS] == b"header:trace,header:span"


def test_error_and_source_headers_are_added() -> None:
    record = _record()
    error = RecordError("non_numeric_feature", "feature 'a' is str 'high', not a number",
                        "validate")
    letter = dead_letter(record, error)
    assert letter.headers == [
        ("error.type", b"non_numeric_feature"),
        ("error.message", b"feature 'a' is str 'high', not a number"),
        ("error.stage", b"validate"),
        ("source.topic", b"events"),
        ("source.partition", b"3"),
        ("source.offset", b"12345"),
    ]
    assert [name for name, _ in letter.headers] == [
        ERROR_TYPE, ERROR_MESSAGE, ERROR_STAGE, SOURCE_TOPIC, SOURCE_PARTITION, SOURCE_OFFSET
    ]


def test_the_records_own_headers_come_first_and_are_not_modified() -> None:
    own = [("trace-id", b"abc"), ("content-type", b"application/json"), ("dup", b"1")]
    record = _record(headers=own)
    letter = dead_letter(record, RecordError("missing_feature", "feature 'b' is missing",
                                             "validate"))
    assert letter.headers[:3] == own
    assert dict(letter.headers[3:]) == {
        "error.type": b"missing_feature",
        "error.message": b"feature 'b' is missing",
        "error.stage": b"validate",
        "source.topic": b"events",
        "source.partition": b"3",
        "source.offset": b"12345",
    }
    assert len(letter.headers) == 9
    assert record.headers == [("trace-id", b"abc"), ("content-type", b"application/json"),
                              ("dup", b"1")]


def test_a_long_message_is_truncated_to_1000_characters() -> None:
    message = "0123456789" * 500
    letter = dead_letter(_record(), RecordError("model_error", message, "model"))
    headers = dict(letter.headers)
    assert headers["error.message"] == message[:1000].encode()
    assert headers["error.type"] == b"model_error" and headers["error.stage"] == b"model"


def test_a_message_is_utf8_and_unencodable_characters_are_replaced() -> None:
    letter = dead_letter(_record(), RecordError("invalid_json", "bad é \udcff end", "decode"))
    assert dict(letter.headers)["error.message"] == "bad é ? end".encode()
