"""FeatureExtractor: event -> feature row -> model matrix, and why a row is rejected."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from streaminfer.operators.features import FeatureExtractor
from streaminfer.operators.records import RecordError


def _error(call, *args) -> RecordError:
    with pytest.raises(RecordError) as info:
        call(*args)
    return info.value


# ---------------------------------------------------------------- named fields

def test_named_fields_are_taken_in_the_configured_order_and_extra_keys_ignored() -> None:
    fx = FeatureExtractor(fields=["b", "a", "c"])
    event = {"a": 1, "id": "e1", "c": -0.5, "b": 2.25, "note": "ignored"}
    assert list(fx.values(event)) == [2.25, 1, -0.5]
    assert fx.width == 3


def test_a_missing_named_field() -> None:
    error = _error(FeatureExtractor(fields=["a", "b"]).values, {"a": 1})
    assert (error.error_type, error.stage) == ("missing_feature", "validate")
    assert error.message == "feature 'b' is missing"


@pytest.mark.parametrize(
    ("value", "described"),
    [
        ("high", "str 'high'"),
        ("3.5", "str '3.5'"),          # a number in a string is still not a number
        (True, "bool True"),           # bool is an int subclass, but not a feature value
        (False, "bool False"),
        (None, "null"),
        ([1, 2], "list [1, 2]"),
        ({"v": 1}, "dict {'v': 1}"),
    ],
)
def test_a_non_numeric_named_field(value: object, described: str) -> None:
    error = _error(FeatureExtractor(fields=["a", "b"]).values, {"a": 1, "b": value})
    assert (error.error_type, error.stage) == ("non_numeric_feature", "validate")
    assert error.message == f"feature 'b' is {described}, not a number"


def test_a_long_non_numeric_value_is_shortened_in_the_message() -> None:
    error = _error(FeatureExtractor(fields=["a"]).values, {"a": "x" * 5000})
    assert error.error_type == "non_numeric_feature"
    assert len(error.message) < 100
    assert error.message.startswith("feature 'a' is str 'xxxx")


# ---------------------------------------------------------------- one array field

def test_an_array_field_gives_its_values() -> None:
    fx = FeatureExtractor(array_field="x", width=3)
    assert fx.values({"id": 1, "x": [1, 2.5, -3]}) == [1, 2.5, -3]


def test_an_array_field_without_a_width_takes_any_length() -> None:
    fx = FeatureExtractor(array_field="x")
    assert fx.values({"x": [1.0]}) == [1.0]
    assert fx.values({"x": [1.0, 2.0, 3.0, 4.0]}) == [1.0, 2.0, 3.0, 4.0]


def test_a_missing_array_field() -> None:
    error = _error(FeatureExtractor(array_field="x", width=2).values, {"y": [1, 2]})
    assert (error.error_type, error.stage) == ("missing_feature", "validate")
    assert error.message == "feature field 'x' is missing"


@pytest.mark.parametrize(
    ("value", "type_name"), [("1,2", "str"), ({"a": 1}, "dict"), (3, "int"), (None, "NoneType")]
)
def test_an_array_field_that_is_not_an_array(value: object, type_name: str) -> None:
    error = _error(FeatureExtractor(array_field="x", width=2).values, {"x": value})
    assert (error.error_type, error.stage) == ("non_numeric_feature", "validate")
    assert error.message == f"'x' must be an array of numbers, got {type_name}"


@pytest.mark.parametrize("values", [[1, 2, 3], [1], []])
def test_an_array_with_the_wrong_count(values: list[int]) -> None:
    error = _error(FeatureExtractor(array_field="x", width=2).values, {"x": values})
    assert (error.error_type, error.stage) == ("wrong_feature_count", "validate")
    assert error.message == f"'x' has {len(values)} values, the model takes 2"


@pytest.mark.parametrize(
    ("element", "described"),
    [("a", "str 'a'"), (None, "null"), (True, "bool True"), ([1.0], "list [1.0]")],
)
def test_a_non_numeric_array_element_is_named_by_index(element: object, described: str) -> None:
    error = _error(FeatureExtractor(array_field="x", width=3).values, {"x": [1, element, 3]})
    assert (error.error_type, error.stage) == ("non_numeric_feature", "validate")
    assert error.message == f"'x[1]' is {described}, not a number"


@pytest.mark.parametrize("kwargs", [{}, {"fields": ["a"], "array_field": "x"}])
def test_exactly_one_of_fields_or_array_field(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="exactly one of fields or array_field"):
        FeatureExtractor(**kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------- matrix and finiteness

def test_matrix_stacks_rows_in_the_model_dtype() -> None:
    rows = [[1, 2.5], [-3, 4]]
    matrix, bad = FeatureExtractor(fields=["a", "b"]).matrix(rows)
    assert matrix.dtype == np.float32
    assert matrix.shape == (2, 2)
    np.testing.assert_array_equal(matrix, np.array(rows, dtype=np.float32))
    assert bad == {}

    wide, bad = FeatureExtractor(fields=["a", "b"], dtype=np.float64).matrix([[0.1, 1e300]])
    assert wide.dtype == np.float64
    assert wide[0, 0] == 0.1 and wide[0, 1] == 1e300
    assert bad == {}


def test_matrix_of_no_rows_is_empty_with_the_model_width() -> None:
    matrix, bad = FeatureExtractor(fields=["a", "b", "c"]).matrix([])
    assert matrix.shape == (0, 3) and matrix.dtype == np.float32 and bad == {}
    matrix, bad = FeatureExtractor(array_field="x", dtype=np.float64).matrix([])
    assert matrix.shape == (0, 0) and matrix.dtype == np.float64 and bad == {}


def test_matrix_flags_every_row_that_is_not_finite() -> None:
    rows = [
        [1.0, 2.0],
        [math.nan, 2.0],
        [1.0, math.inf],
        [3.0, 4.0],
        [-math.inf, 0.0],
        [1e39, 0.0],          # finite as a Python float, infinite as float32
        [-1e39, 0.0],
        [3.4e38, -3.4e38],    # just inside float32's range
    ]
    matrix, bad = FeatureExtractor(fields=["a", "b"]).matrix(rows)
    assert sorted(bad) == [1, 2, 4, 5, 6]
    assert {e.error_type for e in bad.values()} == {"non_finite_feature"}
    np.testing.assert_array_equal(matrix, np.array([rows[0], rows[3], rows[7]], np.float32))


def test_a_value_beyond_float32_is_finite_for_a_float64_model() -> None:
    _, bad = FeatureExtractor(fields=["a"], dtype=np.float64).matrix([[1e39], [math.nan]])
    assert list(bad) == [1]


def test_non_finite_error_names_the_first_bad_field_and_the_dtype() -> None:
    fx = FeatureExtractor(fields=["a", "b", "c"])
    error = fx.non_finite_error([1.0, 1e39, math.nan])
    assert (error.error_type, error.stage) == ("non_finite_feature", "validate")
    assert error.message == "feature 'b' is 1e+39, which is not finite as float32"

    assert fx.non_finite_error([math.nan, 1.0, 1.0]).message == (
        "feature 'a' is nan, which is not finite as float32"
    )
    assert fx.non_finite_error([0.0, 0.0, -math.inf]).message == (
        "feature 'c' is -inf, which is not finite as float32"
    )


def test_non_finite_error_names_an_array_element_by_index() -> None:
    fx = FeatureExtractor(array_field="x", width=3, dtype=np.float64)
    error = fx.non_finite_error([0.0, 1.0, math.inf])
    assert error.error_type == "non_finite_feature"
    assert error.message == "feature 'x[2]' is inf, which is not finite as float64"


def test_non_finite_error_for_a_row_that_is_finite_falls_back_to_a_generic_message() -> None:
    error = FeatureExtractor(fields=["a"]).non_finite_error([1.0])
    assert (error.error_type, error.message) == ("non_finite_feature", "a feature is not finite")


def test_each_flagged_row_gets_a_message_about_its_own_value() -> None:
    fx = FeatureExtractor(fields=["a", "b"])
    rows = [[1.0, 2.0], [1e39, 2.0], [1.0, math.nan]]
    _, bad = fx.matrix(rows)
    messages = [bad[i].message for i in sorted(bad)]
    assert messages == [
        "feature 'a' is 1e+39, which is not finite as float32",
        "feature 'b' is nan, which is not finite as float32",
    ]


def test_an_integer_too_large_for_any_float_rejects_only_its_row() -> None:
    fx = FeatureExtractor(fields=["a", "b"])
    huge = 10**400  # what json.loads makes of a 401-digit number
    matrix, bad = fx.matrix([[1, 2], [huge, 0], [3, 4]])
    np.testing.assert_array_equal(matrix, np.array([[1, 2], [3, 4]], np.float32))
    assert list(bad) == [1] and bad[1].error_type == "non_finite_feature"
    assert bad[1].message.startswith("feature 'a' is 1000000000")
    assert bad[1].message.endswith("..., which is not finite as float32")


def test_ragged_arrays_of_a_model_with_symbolic_width_reject_the_odd_rows() -> None:
    fx = FeatureExtractor(array_field="x", width=None)
    matrix, bad = fx.matrix([[1, 2], [1, 2, 3], [5, 6]])
    np.testing.assert_array_equal(matrix, np.array([[1, 2], [5, 6]], np.float32))
    assert list(bad) == [1] and bad[1].error_type == "wrong_feature_count"
    assert bad[1].message == "'x' has 3 values; the others in its batch have 2"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_columns_and_rows_give_the_same_matrix_and_the_same_bad_rows(dtype: Any) -> None:
    fx = FeatureExtractor(fields=["a", "b"], dtype=dtype)
    a = [1, 16_777_217, -3, 2**53 + 1, 7]  # ints, some beyond float32's exact range
    b = [0.1, 1e300, float("nan"), 2.5, float("inf")]
    rows = [(x, y) for x, y in zip(a, b, strict=True)]
    by_rows, rejected = fx.matrix(rows)
    by_columns, finite = fx.column_matrix([np.array(a, dtype=np.int64), np.array(b)])
    assert sorted(np.flatnonzero(~finite).tolist()) == sorted(rejected)
    assert by_columns.dtype == by_rows.dtype == np.dtype(dtype)
    assert by_columns[finite].tobytes() == by_rows.tobytes()
