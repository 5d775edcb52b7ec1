"""How ``streaminfer tail`` shows a record (pure): its value decoded when JSON, its headers,
a null header value (librdkafka clients write them) as null rather than a crash."""

from __future__ import annotations

from streaminfer.operators.records import SourceRecord
from streaminfer.pipelines.devtools.topic_tools import describe


def test_a_record_is_shown_with_its_json_value_and_headers() -> None:
    record = SourceRecord("t", 1, 7, 0, b"k", b'{"id": "e1"}', [("error.type", b"x")])
    assert describe(record) == {"topic": "t", "partition": 1, "offset": 7, "key": "k",
                                "value": {"id": "e1"}, "headers": {"error.type": "x"}}


def test_a_null_header_value_and_a_keyless_tombstone_are_shown_as_null() -> None:
    shown = describe(SourceRecord("t", 0, 3, 0, None, None, [("trace", None)]))
    assert shown["key"] is None and shown["value"] is None
    assert shown["headers"] == {"trace": None}
