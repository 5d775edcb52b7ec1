"""Codecs: event bytes -> JSON object (or a RecordError), predictions -> bytes; the raw codec:
a record's value as it is, its id from the key or a header."""

from __future__ import annotations

import math

import numpy as np
import orjson
import pytest

from streaminfer.operators.codecs import JsonCodec, RawCodec, codec_for
from streaminfer.operators.records import RecordError, SourceRecord

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
    with pytest.raises(ValueError, match="unknown codec 'avro'; known: json, raw"):
        codec_for("avro")


def _raw(key: bytes | None, value: bytes | None,
         headers: list[tuple[str, bytes | None]] | None = None) -> SourceRecord:
    return SourceRecord("pictures", 1, 9, 0, key, value, headers or [])


def test_the_raw_codec_keeps_the_value_as_it_is_with_the_id_from_the_key() -> None:
    raw = codec_for("raw", field="image", id_field="picture_id")
    assert isinstance(raw, RawCodec) and raw.name == "raw"
    jpeg = b"\xff\xd8\xff\xe0 not json {"
    assert raw.decode_record(_raw(b"p-1", jpeg, [("picture_id", b"ignored")])) == \
        {"image": jpeg, "picture_id": "p-1"}
    assert raw.decode_record(_raw(None, b"")) == {"image": b""}  # no key: known by its place
    assert orjson.loads(raw.encode({"id": "p-1", "p": np.float32(0.5)})) == {"id": "p-1",
                                                                              "p": 0.5}


def test_the_raw_codec_takes_the_id_from_a_named_header() -> None:
    raw = RawCodec(field="value", id_field="id", id_header="picture-id")
    record = _raw(b"the key", b"bytes", [("other", b"x"), ("picture-id", b"p-7")])
    assert raw.decode_record(record) == {"value": b"bytes", "id": "p-7"}
    assert raw.decode_record(_raw(b"the key", b"bytes", [("other", b"x")])) == \
        {"value": b"bytes"}
    assert raw.decode_record(_raw(b"k", b"bytes", [("picture-id", None)])) == {"value": b"bytes"}


def test_the_raw_codec_refuses_a_tombstone_and_an_id_that_is_not_text() -> None:
    raw = RawCodec(field="image", id_field="id")
    with pytest.raises(RecordError) as empty:
        raw.decode_record(_raw(b"k", None))
    assert (empty.value.error_type, empty.value.stage) == ("empty_value", "decode")
    with pytest.raises(RecordError) as bad_id:
        raw.decode_record(_raw(b"\xff\xfe", b"bytes"))
    assert (bad_id.value.error_type, bad_id.value.field) == ("invalid_id", "id")
    assert "key" in bad_id.value.message
