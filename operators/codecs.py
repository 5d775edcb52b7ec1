r"""Codecs: a record to an event (a JSON object, or the value's bytes as they are), and
predictions back to bytes.

>>> from streaminfer.operators.records import SourceRecord
>>> raw = RawCodec(field="image", id_field="id")
>>> raw.decode_record(SourceRecord("t", 0, 7, 0, b"p-1", b"\xff\xd8 jpeg bytes"))
{'image': b'\xff\xd8 jpeg bytes', 'id': 'p-1'}
"""

from __future__ import annotations

import json
from typing import Any, Protocol

import orjson

from streaminfer.operators.records import Record, RecordError


class Codec(Protocol):
    """Decodes records into events and encodes predictions."""

    name: str

    def decode_record(self, record: Record) -> dict[str, Any]: ...

    def encode(self, obj: dict[str, Any]) -> bytes: ...


def encode_json(obj: dict[str, Any]) -> bytes:
    """A prediction as JSON (numpy scalars and arrays allowed)."""
    return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY)


class JsonCodec:
    """JSON with orjson; NaN/Infinity literals (as Python's json.dumps writes them) decode too."""

    name = "json"

    def decode(self, value: bytes | None) -> dict[str, Any]:
        """Decode one event; raises :class:`RecordError` unless it is a JSON object."""
        if value is None:
            raise RecordError("empty_value", "record has no value (tombstone)", "decode")
        try:
            event = orjson.loads(value)
        except orjson.JSONDecodeError as fast_error:
            event = self._decode_lenient(value, fast_error)
        if not isinstance(event, dict):
            raise RecordError(
                "not_an_object", f"event must be a JSON object, got {type(event).__name__}",
                "decode",
            )
        return event

    def decode_record(self, record: Record) -> dict[str, Any]:
        """The record's value decoded (:meth:`decode`)."""
        return self.decode(record.value)

    @staticmethod
    def _decode_lenient(value: bytes, fast_error: Exception) -> Any:
        # Only reached for input orjson refuses: NaN/Infinity literals are then
        # reported as non-finite features by validation instead of as bad JSON.
        try:
            return json.loads(value)
        except (ValueError, UnicodeDecodeError, RecursionError):
            # RecursionError: nested deeper than Python's stack (orjson stops at 1,024 levels)
            raise RecordError("invalid_json", f"not valid JSON: {fast_error}", "decode") from None

    encode = staticmethod(encode_json)  # a prediction (numpy scalars and arrays allowed)


class RawCodec:
    """The record's value as it is (a picture's file) in the event's ``field``, and the
    event's id, under ``id_field``, from the record key or, with ``id_header``, from that
    header (UTF-8 text; none there: the event has no id, and is known by where it was read).
    Predictions are JSON."""

    name = "raw"

    def __init__(self, *, field: str, id_field: str | None, id_header: str | None = None
                 ) -> None:
        self.field, self.id_field, self.id_header = field, id_field, id_header

    def decode_record(self, record: Record) -> dict[str, Any]:
        if record.value is None:
            raise RecordError("empty_value", "record has no value (tombstone)", "decode")
        event: dict[str, Any] = {self.field: bytes(record.value)}
        raw_id = record.key if self.id_header is None else next(
            (value for name, value in record.headers or () if name == self.id_header), None)
        if raw_id is not None and self.id_field is not None:
            try:
                event[self.id_field] = raw_id.decode("utf-8")
            except UnicodeDecodeError:
                where = "key" if self.id_header is None else f"header '{self.id_header}'"
                raise RecordError("invalid_id", f"the record's {where} (the event id) is not "
                                  "UTF-8 text", "decode", self.id_field) from None
        return event

    encode = staticmethod(encode_json)


def codec_for(name: str, *, field: str = "value", id_field: str | None = None,
              id_header: str | None = None) -> Codec:
    """Look up a codec by its config name (``field``, ``id_field``, ``id_header``: the raw
    codec's, see :class:`RawCodec`)."""
    if name == "json":
        return JsonCodec()
    if name == "raw":
        return RawCodec(field=field, id_field=id_field, id_header=id_header)
    raise ValueError(f"unknown codec {name!r}; known: json, raw")
