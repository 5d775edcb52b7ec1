"""JsonCodec: event bytes -> JSON object (or a RecordError), predictions -> bytes."""

from __future__ import annotations

import math

import numpy as np
import orjson
import pytest

from streaminfer.operators.codecs import JsonCodec, codec_for
from streaminfer.operators.records import RecordError

codec = JsonCodec()


def test_decodes_an_object_with_every_json_type() -> None:
    raw = b'{"id": "e1", "n": 3, "x": 2.5, "ok": true, "none": null, "xs": [1, 2], "m": {"a": 1}}'
    assert codec.decode(raw) == {
        "id": "e1", "n": 3, "x": 2.5, "ok": True, "none": None, "xs": [1, 2], "m": {"a": 1}
    }


def test_decodes_nan_and_infinity_literals_through_the_lenient_path() -> None:
    # orjson refuses these literals; Python's json.dumps writes them, so they must decode and
    # be left for validation to report as non-finite features.
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(b'{"a": NaN}')
    event = codec.decode(b'{"a": NaN, "b": Infinity, "c": -Infinity, "xs": [1.5, NaN]}')
    assert math.isnan(event["a"])
    assert event["b"] == math.inf
    assert event["c"] == -math.inf
    assert event["xs"][0] == 1.5 and math.isnan(event["xs"][1])


def test_python_json_dumps_output_with_nan_round_trips() -> None:
    import json

    raw = json.dumps({"id": 7, "v": float("nan"), "w": float("inf")}).encode()
    event = codec.decode(raw)
    assert event["id"] == 7 and math.isnan(event["v"]) and event["w"] == math.inf


@pytest.mark.parametrize(
    "raw",
    [
        b'{"id": "b1", "mean_radius": ',   # truncated
        b"{'a': 1}",                         # single quotes
        b'{"a": 1}{',                        # trailing content
        b"",                                 # empty value (not a tombstone)
        b"\xff\xfe\x00",                     # not UTF-8
        b"{a: 1}",                           # unquoted key
    ],
)
def test_invalid_json_is_a_decode_error(raw: bytes) -> None:
    with pytest.raises(RecordError) as info:
        codec.decode(raw)
    assert info.value.error_type == "invalid_json"
    assert info.value.stage == "decode"
    assert info.value.message.startswith("not valid JSON: ")
    assert str(info.value) == info.value.message


@pytest.mark.parametrize(
    ("raw", "type_name"),
    [(b"[1, 2]", "list"), (b"3", "int"), (b'"text"', "str"), (b"null", "NoneType"),
     (b"true", "bool"), (b"NaN", "float")],
)
def test_a_json_value_that_is_not_an_object_is_rejected(raw: bytes, type_name: str) -> None:
    with pytest.raises(RecordError) as info:
        codec.decode(raw)
    assert info.value.error_type == "not_an_object"
    assert info.value.stage == "decode"
    assert info.value.message == f"event must be a JSON object, got {type_name}"


def test_json_nested_deeper_than_the_stack_is_invalid_json_not_a_crash() -> None:
    """10 KB of ``[[[...]]]``: orjson stops at 1,024 levels, Python's json overflowed its
    stack (a RecursionError that crashed the worker, again on each restart)."""
    with pytest.raises(RecordError) as info:
        codec.decode(b"[" * 5_000 + b"]" * 5_000)
    assert (info.value.error_type, info.value.stage) == ("invalid_json", "decode")
    assert "depth limit exceeded" in info.value.message


def test_a_tombstone_is_an_empty_value_error() -> None:
    with pytest.raises(RecordError) as info:
        codec.decode(None)
    assert (info.value.error_type, info.value.stage) == ("empty_value", "decode")
    assert "tombstone" in info.value.message


def test_encodes_numpy_scalars_and_arrays() -> None:
    value = {
        "id": "e1",
        "label": np.int64(1),
        "score": np.float32(0.25),
        "wide": np.float64(1.5),
        "probabilities": np.array([0.75, 0.25], dtype=np.float32),
        "matrix": np.array([[1, 2], [3, 4]], dtype=np.int32),
        "source": {"topic": "t", "partition": 0, "offset": 5},
    }
    encoded = codec.encode(value)
    assert isinstance(encoded, bytes)
    assert orjson.loads(encoded) == {
        "id": "e1", "label": 1, "score": 0.25, "wide": 1.5, "probabilities": [0.75, 0.25],
        "matrix": [[1, 2], [3, 4]], "source": {"topic": "t", "partition": 0, "offset": 5},
    }


def test_encode_then_decode_gives_the_object_back() -> None:
    value = {"id": "x", "outputs": [1, 2.5], "nested": {"k": "v"}}
    assert codec.decode(codec.encode(value)) == value


def test_encoding_an_unserializable_value_raises_type_error() -> None:
    # BatchScorer relies on this being a TypeError to dead-letter the record.
    with pytest.raises(TypeError):
        codec.encode({"bad": object()})


def test_codec_for_json_and_for_an_unknown_name() -> None:
    assert isinstance(codec_for("json"), JsonCodec)
    assert codec_for("json").name == "json"
    with pytest.raises(ValueError, match="unknown codec 'avro'; known: json"):
        codec_for("avro")
