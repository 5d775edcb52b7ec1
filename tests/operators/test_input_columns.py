"""FeedBuilder.rows builds a batch input by input (a column screened at once, else value by
value): for any batch it gives what FeedBuilder.values gives event by event, the same rows
and the same refusals with the same reasons; a bad value in a column refuses its event only."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streaminfer.operators.inputs import FeedBuilder, InputBinding, InputSignature
from streaminfer.operators.records import RecordError

SIGNATURE = (InputSignature("country", "string", (None, 1)),
             InputSignature("channel", "string", (None, 1)),
             InputSignature("amount", "float", (None, 1)),
             InputSignature("hour", "int8", (None,)),
             InputSignature("flag", "bool", (None,)),
             InputSignature("pair", "double", (None, 2)))
BINDINGS = {"country": InputBinding(field="country"),
            "channel": InputBinding(field="channel", default="online"),
            "amount": InputBinding(field="amount"),
            "hour": InputBinding(field="hour", default=12, cast=True),
            "flag": InputBinding(field="flag"),
            "pair": InputBinding(fields=("a", "b"))}


def builder() -> FeedBuilder:
    return FeedBuilder(SIGNATURE, BINDINGS)


def event(**changes: Any) -> dict[str, Any]:
    base = {"country": "FR", "channel": "web", "amount": 12.5, "hour": 3, "flag": True,
            "a": 1, "b": 2.5}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not ...}


def one_by_one(fb: FeedBuilder, events: list[dict[str, Any]]
               ) -> tuple[list[tuple[Any, ...]], dict[int, tuple[str, str, str | None]]]:
    rows, refused = [], {}
    for i, e in enumerate(events):
        try:
            rows.append(fb.values(e))
        except RecordError as error:
            refused[i] = (error.error_type, error.message, error.field)
    return rows, refused


def typed(rows: list[tuple[Any, ...]]) -> list[Any]:
    """Rows with each value's type, so 3 and 3.0 differ."""
    def mark(v: Any) -> Any:
        return [mark(x) for x in v] if isinstance(v, list) else (type(v).__name__, repr(v))
    return [[mark(v) for v in row] for row in rows]


def test_a_bad_value_refuses_its_event_and_the_rest_of_the_column_is_kept() -> None:
    events = [event(), event(country=7), event(channel=None), event(hour=200),
              event(amount="3"), event(hour="5"), event(country="Zürich"),
              event(country="a\ud800"), event(b=True), event(flag=1), event(hour=...)]
    rows, refused = builder().rows(events)
    assert {i: e.error_type for i, e in refused.items()} == {
        1: "wrong_input_type", 3: "wrong_input_type", 4: "wrong_input_type",
        7: "wrong_input_type", 8: "wrong_input_type", 9: "wrong_input_type"}
    assert [refused[i].field for i in sorted(refused)] == ["country", "hour", "amount",
                                                            "country", "b", "flag"]
    assert "not a string" in refused[1].message and "int8" in refused[3].message
    assert [r[:4] for r in rows] == [("FR", "web", 12.5, 3), ("FR", "online", 12.5, 3),
                                     ("FR", "web", 12.5, 5), ("Zürich", "web", 12.5, 3),
                                     ("FR", "web", 12.5, 12)]
    assert rows[0][5] == [1, 2.5]
    assert (rows, {i: (e.error_type, e.message, e.field) for i, e in refused.items()}) == \
        one_by_one(builder(), events)


def test_an_event_is_refused_by_its_first_input_that_refuses_it() -> None:
    rows, refused = builder().rows([event(country=None, amount="x", a=None), event()])
    assert (refused[0].error_type, refused[0].field) == ("missing_feature", "country")
    assert len(rows) == 1


def test_a_batch_of_good_events_is_taken_column_by_column() -> None:
    events = [event(amount=float(i), hour=i % 24) for i in range(300)]
    rows, refused = builder().rows(events)
    feed, rejected = builder().matrix(rows)
    assert not refused and not rejected
    assert feed["amount"].ravel().tolist() == [float(i) for i in range(300)]
    assert feed["hour"].tolist() == [i % 24 for i in range(300)]
    assert feed["pair"].shape == (300, 2) and feed["country"].shape == (300, 1)


def test_an_empty_batch() -> None:
    assert builder().rows([]) == ([], {})


values = (st.none() | st.booleans() | st.integers(-300, 300) | st.sampled_from([2**70, -1])
          | st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(
              ["FR", "DE", "", "7", "true", "Zürich", "a\ud800", "1e400"])
          | st.lists(st.integers(0, 3), max_size=2) | st.just(...))
mostly_good = {
    "country": st.sampled_from(["FR", "DE", "US"]), "channel": st.sampled_from(["web", "pos"]),
    "amount": st.floats(-1e6, 1e6) | st.integers(-10, 10), "hour": st.integers(0, 23),
    "flag": st.booleans(), "a": st.integers(-5, 5), "b": st.floats(-1.0, 1.0)}
events_st = st.lists(st.fixed_dictionaries(
    {k: good | values if k in "ab" else st.one_of(good, good, good, values)
     for k, good in mostly_good.items()}).map(
    lambda e: {k: v for k, v in e.items() if v is not ...}), max_size=24)


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(events=events_st)
def test_a_batch_gives_what_each_event_gives_alone(events: list[dict[str, Any]]) -> None:
    fb = builder()
    rows, refused = fb.rows(events)
    want_rows, want_refused = one_by_one(fb, events)
    assert typed(rows) == typed(want_rows)
    assert {i: (e.error_type, e.message, e.field) for i, e in refused.items()} == want_refused


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_a_float_that_is_not_finite_passes_the_screen_and_matrix_refuses_it(value: float
                                                                            ) -> None:
    fb = builder()
    rows, refused = fb.rows([event(), event(amount=value)])
    _, rejected = fb.matrix(rows)
    assert not refused and rejected[1].error_type == "non_finite_feature"
