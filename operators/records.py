"""What the operators pass between them: a record's origin and the reason it was rejected."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, NamedTuple, Protocol

Stage = Literal["decode", "validate", "model", "encode"]


class Record(Protocol):
    """A Kafka record as read from a topic (kafka-python's ConsumerRecord has this shape)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def timestamp(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes | None]]: ...  # a header's value may be null


#: ``new_tuple(SomeNamedTuple, (field, ...))``: a named tuple from all its fields, without its
#: Python-level ``__new__`` (0.1 us a record less on the hot path: the librdkafka source's
#: records, the outbox's; docs/decisions.md, 2026-12-08).
new_tuple: Any = tuple.__new__


class SourceRecord(NamedTuple):
    """A plain :class:`Record`, for code and tests that make records themselves, and what the
    librdkafka source makes of each message (a named tuple: built in a third of a frozen
    dataclass's time, once per event on the hot path; docs/decisions.md)."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes | None]] = ()


class RecordError(Exception):
    """Why one record cannot be scored; it goes to the dead-letter topic with these fields.

    ``field`` names the event field at fault, when there is one.
    """

    def __init__(
        self, error_type: str, message: str, stage: Stage, field: str | None = None
    ) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.stage: Stage = stage
        self.field = field

    def __reduce__(self) -> tuple[type[RecordError], tuple[str, str, Stage, str | None]]:
        # Crosses process boundaries (Ray Serve replicas return these per row).
        return (RecordError, (self.error_type, self.message, self.stage, self.field))
