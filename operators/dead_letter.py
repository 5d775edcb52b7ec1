"""Dead letters: the original record, unchanged, with headers that say what went wrong.

Kafka's producers refuse two things a record read from a topic can hold: no key and no value
at once (a keyless tombstone) and a header whose value is null. A dead letter carries such a
null as empty bytes and names it in the ``source.nulls`` header, so that every record that
can be read can be dead-lettered.
"""

from __future__ import annotations

from dataclasses import dataclass

from streaminfer.operators.records import Record, RecordError

#: Header names added to every dead letter (after the record's own headers).
ERROR_TYPE = "error.type"
ERROR_MESSAGE = "error.message"
ERROR_STAGE = "error.stage"
ERROR_FIELD = "error.field"
SOURCE_TOPIC = "source.topic"
SOURCE_PARTITION = "source.partition"
SOURCE_OFFSET = "source.offset"
SOURCE_NULLS = "source.nulls"
_MAX_MESSAGE = 1_000


@dataclass(frozen=True)
class DeadLetter:
    """One record that could not be scored, ready to produce."""

    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    error_type: str


def dead_letter(record: Record, error: RecordError) -> DeadLetter:
    """Wrap ``record`` with the headers naming ``error`` and where the record came from."""
    nulls: list[str] = []
    headers: list[tuple[str, bytes]] = []
    for name, value in record.headers or []:
        if value is None:  # kafka-python reads a null header value as None, and cannot send it
            nulls.append(f"header:{name}")
        headers.append((name, b"" if value is None else value))
    value = record.value
    if value is None and record.key is None:
        nulls.append("value")
        value = b""
    headers += [
        (ERROR_TYPE, error.error_type.encode()),
        (ERROR_MESSAGE, error.message[:_MAX_MESSAGE].encode("utf-8", "replace")),
        (ERROR_STAGE, error.stage.encode()),
        (SOURCE_TOPIC, record.topic.encode()),
        (SOURCE_PARTITION, str(record.partition).encode()),
        (SOURCE_OFFSET, str(record.offset).encode()),
    ]
    if error.field is not None:
        headers.append((ERROR_FIELD, error.field.encode("utf-8", "replace")))
    if nulls:
        headers.append((SOURCE_NULLS, ",".join(nulls).encode("utf-8", "replace")))
    return DeadLetter(record.key, value, headers, error.error_type)
