"""Codecs: event bytes to a JSON object, and predictions back to bytes."""

from __future__ import annotations

import json
from typing import Any

import orjson

from streaminfer.operators.records import RecordError


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

    @staticmethod
    def _decode_lenient(value: bytes, fast_error: Exception) -> Any:
        # Only reached for input orjson refuses: NaN/Infinity literals are then
        # reported as non-finite features by validation instead of as bad JSON.
        try:
            return json.loads(value)
        except (ValueError, UnicodeDecodeError, RecursionError):
            # RecursionError: nested deeper than Python's stack (orjson stops at 1,024 levels)
            raise RecordError("invalid_json", f"not valid JSON: {fast_error}", "decode") from None

    def encode(self, obj: dict[str, Any]) -> bytes:
        """Encode a prediction (numpy scalars and arrays allowed)."""
        return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY)


def codec_for(name: str) -> JsonCodec:
    """Look up a codec by its config name."""
    if name == "json":
        return JsonCodec()
    raise ValueError(f"unknown codec {name!r}; known: json")
