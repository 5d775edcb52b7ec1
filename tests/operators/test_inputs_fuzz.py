"""Property tests of the event-to-tensors path: JSON bytes decoded by the codec, each event's
values checked by FeedBuilder.values, a micro-batch stacked by FeedBuilder.matrix. For any
JSON value in each field (nested objects, lists of any length, NaN and infinities, huge
ints, bools, strings, null, missing), per input kind, every event ends either in the feed,
equal to what the contract below says, or refused with a RecordError and its reason; never
another exception.

The expectation is written here from the contract in docs/inputs.md, not from the module:
a number input takes JSON numbers (not bools) and, with ``cast``, strings of ASCII digits
with an optional sign, fraction and exponent; an integer input takes whole numbers in its
range; a float input refuses what is not finite in its type; a string input takes strings
and, with ``cast``, numbers and bools as JSON writes them; a bool input takes bools and,
with ``cast``, 0, 1, "0", "1", "true", "false".

``STREAMINFER_FUZZ=deep`` runs ten times the examples.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streaminfer.operators.codecs import JsonCodec
from streaminfer.operators.inputs import FeedBuilder, InputBinding, InputSignature
from streaminfer.operators.records import RecordError

settings.register_profile("inputs", max_examples=200, deadline=None, derandomize=True,
                          database=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("inputs-deep", max_examples=2000, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
PROFILE = settings.get_profile(
    "inputs-deep" if os.environ.get("STREAMINFER_FUZZ") == "deep" else "inputs")

RANGES = {"int64": (-2**63, 2**63 - 1), "int32": (-2**31, 2**31 - 1), "int8": (-128, 127),
          "uint8": (0, 255)}
DTYPES = {"float": np.float32, "double": np.float64, "float16": np.float16, "int64": np.int64,
          "int32": np.int32, "int8": np.int8, "uint8": np.uint8, "bool": np.bool_,
          "string": object}
DEFAULTS = {"float": 0.5, "double": -2.25, "float16": 8, "int64": 7, "int32": -3, "int8": 5,
            "uint8": 200, "bool": False, "string": "unknown"}
EDGE_INTS = [0, 1, -1, 127, 128, 255, 256, -129, 2**31, 2**53 + 1, 2**63 - 1, 2**63,
             -2**63, -2**63 - 1, 10**30, 65504, 70000]
NUMBER_TEXTS = ["3", " 2.5 ", "-0", "+4", ".5", "5.", "1e3", "1E-2", "1e400", "3.0", "007",
                "1_000", "nan", "inf", "Infinity", "0x10", "١٢", "", " ", "1e", "--1", "true",
                "false", "0", "1", "99999999999999999999", "2.5e1", "e5", "1.5", "a\ud800b"]

scalars = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.sampled_from(EDGE_INTS)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12)
           | st.sampled_from(NUMBER_TEXTS))
json_values = st.recursive(
    scalars, lambda kids: st.lists(kids, max_size=4)
    | st.dictionaries(st.sampled_from("abv"), kids, max_size=2), max_leaves=4)
arrays = st.lists(scalars, max_size=5) | st.lists(st.integers(-300, 300), min_size=2, max_size=4)
edges = st.sampled_from([*EDGE_INTS, math.nan, math.inf, -math.inf, 1e39, 0.5, -0.0, True,
                         False, None])
field_values = (json_values | arrays | st.sampled_from(NUMBER_TEXTS) | edges
                | st.just("absent"))


class Refused(Exception):
    def __init__(self, reason: str, field: str) -> None:
        super().__init__(reason)
        self.reason, self.field = reason, field


def _number_text(text: str) -> int | float | None:
    body = text.strip()
    if not body or not set(body) <= set("0123456789+-.eE") or not any(c.isdigit() for c in body):
        return None
    try:
        return int(body) if set(body) <= set("0123456789+-") else float(body)
    except ValueError:
        return None


def expected_element(value: Any, kind: str, cast: bool, field: str) -> Any:
    """The value the contract puts in the tensor, or :class:`Refused`."""
    refused = Refused("wrong_input_type", field)
    if value is None or isinstance(value, (list, dict)):
        raise refused
    if kind == "string":
        if isinstance(value, str):
            if any(0xD800 <= ord(c) <= 0xDFFF for c in value):  # not text: half a character
                raise refused
            return value
        if not cast:
            raise refused
        return json.dumps(value) if isinstance(value, bool) else repr(value)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        words = {"true": True, "1": True, "false": False, "0": False}
        if cast and isinstance(value, str) and value in words:
            return words[value]
        if cast and type(value) in (int, float) and value in (0, 1):
            return value == 1
        raise refused
    if isinstance(value, bool) or (isinstance(value, str) and not cast):
        raise refused
    if isinstance(value, str):
        value = _number_text(value)
        if value is None:
            raise refused
    if kind in RANGES:
        if isinstance(value, float):
            if not math.isfinite(value) or value != int(value):
                raise refused
            value = int(value)
        low, high = RANGES[kind]
        if not low <= value <= high:
            raise refused
    return value


def _finite(value: Any, kind: str) -> bool:
    try:
        as_float = float(value)
    except OverflowError:
        return False
    with np.errstate(over="ignore"):
        return bool(np.isfinite(np.array(as_float, dtype=DTYPES[kind])))


def expected_row(event: dict[str, Any], kind: str, binding: InputBinding,
                 width: int | None) -> Any:
    """One event's value for the input (a scalar or a row), or :class:`Refused`."""

    def present(name: str) -> Any:
        value = event.get(name)
        if value is None:
            if binding.default is None:
                raise Refused("missing_feature", name)
            return binding.default
        return value

    if binding.field is not None:
        return expected_element(present(binding.field), kind, binding.cast, binding.field)
    if binding.fields is not None:
        return [expected_element(present(f), kind, binding.cast, f) for f in binding.fields]
    name = binding.array_field
    assert name is not None
    array = present(name)
    if not isinstance(array, list):
        raise Refused("wrong_input_type", name)
    if not array or (width is not None and len(array) != width):
        raise Refused("wrong_feature_count", name)
    return [expected_element(v, kind, binding.cast, name) for v in array]


Input = tuple[str, tuple[Any, ...], InputBinding]  # element type, shape, binding


def _width(shape: tuple[Any, ...]) -> int | None:
    return shape[1] if len(shape) == 2 and isinstance(shape[1], int) else None


def check_batch(kind: str, shape: tuple[Any, ...], binding: InputBinding,
                events: list[dict[str, Any]]) -> None:
    check_inputs([(kind, shape, binding)], events)


def check_inputs(inputs: list[Input], events: list[dict[str, Any]]) -> None:
    """Decode each event, check it and stack the batch; compare with the contract."""
    names = [f"x{i}" for i in range(len(inputs))]
    builder = FeedBuilder([InputSignature(n, k, shape)  # type: ignore[arg-type]
                           for n, (k, shape, _) in zip(names, inputs, strict=True)],
                          {n: b for n, (_, _, b) in zip(names, inputs, strict=True)})
    codec = JsonCodec()
    rows, wanted = [], []
    for event in events:
        decoded = codec.decode(json.dumps(event).encode())
        try:  # the first input that refuses the event says why
            want = [expected_row(decoded, k, b, _width(shape)) for k, shape, b in inputs]
        except Refused as refusal:
            try:
                builder.values(decoded)
            except RecordError as error:
                assert (error.error_type, error.field) == (refusal.reason, refusal.field), \
                    (decoded, error.message)
                assert error.message and error.stage == "validate"
                continue
            raise AssertionError(f"{decoded} should be refused: {refusal.reason}") from None
        rows.append(builder.values(decoded))
        wanted.append(want)
    feed, rejected = builder.matrix(rows)
    refusals: dict[int, str] = {}
    for position, (_, shape, binding) in enumerate(inputs):
        if binding.array_field is not None and _width(shape) is None and wanted:
            lengths = [len(w[position]) for w in wanted]
            tally = Counter(lengths)
            common = max(tally, key=lambda n: (tally[n], -lengths.index(n)))
            for i, length in enumerate(lengths):
                if length != common:
                    refusals.setdefault(i, "wrong_feature_count")
    for position, (kind, _, _) in enumerate(inputs):
        if kind in ("float", "double", "float16"):
            for i, want in enumerate(wanted):
                values = want[position] if isinstance(want[position], list) else [want[position]]
                if i not in refusals and not all(_finite(v, kind) for v in values):
                    refusals[i] = "non_finite_feature"
    assert {i: e.error_type for i, e in rejected.items()} == refusals, (events, rejected)
    kept = [w for i, w in enumerate(wanted) if i not in refusals]
    for position, (name, (kind, shape, _)) in enumerate(zip(names, inputs, strict=True)):
        column = [w[position] for w in kept]
        tensor = feed[name]
        assert tensor.dtype == np.dtype(DTYPES[kind])
        if not column:  # no row kept: no model call, any width will do
            assert tensor.shape[0] == 0
            continue
        across = len(column[0]) if isinstance(column[0], list) else _width(shape) or 1
        assert tensor.shape == ((len(column),) if len(shape) == 1 else (len(column), across))
        flat = [v for w in column for v in (w if isinstance(w, list) else [w])]
        if kind == "string":
            assert tensor.ravel().tolist() == flat
        else:
            assert tensor.ravel().tolist() == np.array(flat, dtype=DTYPES[kind]).tolist()


def events_of(names: list[str]) -> st.SearchStrategy[list[dict[str, Any]]]:
    event = st.fixed_dictionaries({n: field_values for n in names}).map(
        lambda e: {k: v for k, v in e.items() if not (isinstance(v, str) and v == "absent")})
    return st.lists(event, min_size=1, max_size=16)


def _binding(cast: bool, default: bool, kind: str, **where: Any) -> InputBinding:
    return InputBinding(cast=cast, default=DEFAULTS[kind] if default else None, **where)


@PROFILE
@given(kind=st.sampled_from(["float", "double", "float16"]), rank_one=st.booleans(),
       cast=st.booleans(), default=st.booleans(), events=events_of(["v"]))
def test_a_float_field(kind: str, rank_one: bool, cast: bool, default: bool,
                       events: list[dict[str, Any]]) -> None:
    check_batch(kind, (None,) if rank_one else (None, 1),
                _binding(cast, default, kind, field="v"), events)


@PROFILE
@given(kind=st.sampled_from(["float", "double", "float16"]), cast=st.booleans(),
       default=st.booleans(), events=events_of(["a", "b", "c"]))
def test_a_float_row(kind: str, cast: bool, default: bool,
                     events: list[dict[str, Any]]) -> None:
    check_batch(kind, (None, 3), _binding(cast, default, kind, fields=("a", "b", "c")), events)


@PROFILE
@given(kind=st.sampled_from(["int64", "int32", "int8", "uint8"]), cast=st.booleans(),
       default=st.booleans(), events=events_of(["v"]))
def test_an_integer_field(kind: str, cast: bool, default: bool,
                          events: list[dict[str, Any]]) -> None:
    check_batch(kind, (None, 1), _binding(cast, default, kind, field="v"), events)


@PROFILE
@given(cast=st.booleans(), default=st.booleans(), events=events_of(["v"]))
def test_a_string_field(cast: bool, default: bool, events: list[dict[str, Any]]) -> None:
    check_batch("string", (None, 1), _binding(cast, default, "string", field="v"), events)


@PROFILE
@given(cast=st.booleans(), default=st.booleans(), events=events_of(["v"]))
def test_a_bool_field(cast: bool, default: bool, events: list[dict[str, Any]]) -> None:
    check_batch("bool", (None,), _binding(cast, default, "bool", field="v"), events)


@PROFILE
@given(kind=st.sampled_from(["float", "int64", "string", "bool"]), fixed=st.booleans(),
       cast=st.booleans(), events=events_of(["v"]))
def test_an_array_field(kind: str, fixed: bool, cast: bool,
                        events: list[dict[str, Any]]) -> None:
    check_batch(kind, (None, 3 if fixed else None),
                _binding(cast, False, kind, array_field="v"), events)


@PROFILE
@given(cast=st.booleans(), events=events_of(["a", "s", "v"]))
def test_several_inputs_refuse_or_keep_an_event_whole(cast: bool,
                                                      events: list[dict[str, Any]]) -> None:
    """A float, a string and a dynamic int array: an event is refused by its first input
    that refuses it, and the rows kept line up across the inputs' tensors."""
    check_inputs([("float", (None, 1), _binding(cast, False, "float", field="a")),
                  ("string", (None,), _binding(cast, True, "string", field="s")),
                  ("int64", (None, None), _binding(cast, False, "int64", array_field="v"))],
                 events)
