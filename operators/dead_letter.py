"""Dead letters: the original record, unchanged, with headers that say what went wrong."""

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
    headers = list(record.headers or [])
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
    return DeadLetter(record.key, record.value, headers, error.error_type)
