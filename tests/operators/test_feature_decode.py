"""The scorer's fast decoder against the general path (JsonCodec, FeatureExtractor,
event_id): for any event, it declines or reads the same feature values (ints kept ints), id
and event time. Values of every JSON kind in every field: huge ints, bools, NaN, strings,
null, missing, non-ASCII text in a field nobody reads, repeated keys."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streaminfer.operators.codecs import JsonCodec
from streaminfer.operators.feature_decode import FeatureDecoder
from streaminfer.operators.features import FeatureExtractor
from streaminfer.operators.predictions import event_id
from streaminfer.operators.records import RecordError, SourceRecord

FIELDS = ["a", "b", "c"]
ABSENT = object()  # a field left out of the event

scalars = (st.none() | st.booleans() | st.integers(-2**70, 2**70)
           | st.sampled_from([0, -1, 2**53 + 1, 2**63 - 1, 2**63, -2**63, -2**63 - 1, 2**64])
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=6))
values = scalars | st.lists(scalars, max_size=2) | st.just(ABSENT)
numbers = st.integers(-2**70, 2**70) | st.floats(allow_nan=False, allow_infinity=False)


def _general(value: bytes, id_field: str | None, time_field: str | None
             ) -> tuple[tuple[Any, ...], Any, Any] | None:
    """What the general path reads: row, id, event time; None when it refuses the event."""
    record = SourceRecord("t", 0, 5, 0, None, value)
    try:
        event = JsonCodec().decode(value)
        row = FeatureExtractor(fields=FIELDS).values(event)
    except RecordError:
        return None
    return tuple(row), event_id(event, record, id_field), \
        event.get(time_field) if time_field else None


def _typed(values: Any) -> list[tuple[type, Any]]:
    return [(type(v), v) for v in values]


def _check(value: bytes, id_field: str | None = "id", time_field: str | None = "at") -> bool:
    """True when the fast decoder took the event (and read it as the general path)."""
    decoded = FeatureDecoder(FIELDS, id_field=id_field, event_time_field=time_field) \
        .decode(value)
    if decoded is None:
        return False
    row, event = decoded
    general = _general(value, id_field, time_field)
    assert general is not None, f"the fast path took an event the general path refuses: {value!r}"
    assert _typed(row) == _typed(general[0])
    record = SourceRecord("t", 0, 5, 0, None, value)
    assert _typed([event_id(event, record, id_field)]) == _typed([general[1]])
    assert _typed([event.get(time_field) if time_field else None]) == _typed([general[2]])
    return True


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(fields=st.fixed_dictionaries({name: values for name in [*FIELDS, "id", "at", "note"]}),
       ascii_only=st.booleans())
def test_any_event_is_declined_or_read_as_the_general_path_reads_it(
        fields: dict[str, Any], ascii_only: bool) -> None:
    event = {name: value for name, value in fields.items() if value is not ABSENT}
    _check(json.dumps(event, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass"))


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(row=st.tuples(numbers, numbers, numbers),
       the_id=st.text(st.characters(max_codepoint=127), max_size=8)
       | st.integers(-2**63, 2**63 - 1),
       at=st.integers(0, 2**62) | st.none())
def test_events_of_numbers_take_the_fast_path(row: tuple[Any, ...], the_id: Any,
                                              at: Any) -> None:
    event = {"note": "x", "id": the_id, "at": at, **dict(zip(FIELDS, row, strict=True))}
    within_int64 = all(not isinstance(v, int) or -2**63 <= v < 2**63 for v in row)
    assert _check(json.dumps(event).encode()) is within_int64


@pytest.mark.parametrize(("value", "why"), [
    (b'{"a": 1, "b": 2, "c": 3, "note": "caf\xc3\xa9"}', "not ASCII (invalid UTF-8 is not "
     "checked in fields msgspec skips)"),
    (b'{"a": 1, "b": 2, "c": 3, "note": "\xff"}', "invalid UTF-8 in a field not read"),
    (b'{"a": 1, "b": 2, "c": 3, "note": NaN}', "NaN (the general path reads it)"),
    (b'{"a": 1, "b": 2, "c": 99999999999999999999}', "an int beyond 64 bits"),
    (b'{"a": 1, "b": 2, "c": true}', "a bool"),
    (b'{"a": 1, "b": 2}', "a feature missing"),
    (b'{"a": 1, "b": 2, "c": 3, "id": [1]}', "an id that is not a scalar"),
    (b'[1, 2, 3]', "not an object"),
])
def test_what_the_fast_path_declines(value: bytes, why: str) -> None:
    assert FeatureDecoder(FIELDS, id_field="id", event_time_field=None).decode(value) is None, why


def test_repeated_keys_read_the_last_as_orjson_does() -> None:
    assert _check(b'{"a": 1, "b": 2, "c": 3, "a": 4.5, "id": "x", "id": "y"}')


def test_with_keep_features_the_event_holds_the_features_by_name() -> None:
    decoder = FeatureDecoder(["a", "id"], id_field="id", event_time_field="id",
                             keep_features=True)
    assert decoder.decode(b'{"id": 7, "a": 0.5, "z": 1}') == ((0.5, 7), {"id": 7, "a": 0.5})


def test_repeated_feature_names_are_refused() -> None:
    with pytest.raises(ValueError, match="repeat"):
        FeatureDecoder(["a", "a"], id_field=None, event_time_field=None)
