"""What the operators pass between them: a record's origin and the reason it was rejected."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

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
    def headers(self) -> list[tuple[str, bytes | None]]: ...  # a header's value may be null


@dataclass(frozen=True)
class SourceRecord:
    """A plain :class:`Record`, for code and tests that make records themselves."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]] = field(default_factory=list)


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
