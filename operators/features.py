"""Turn decoded events into the model's feature matrix, rejecting what cannot be scored."""

from __future__ import annotations

import math
import operator
from collections import Counter as Tally
from collections.abc import Sequence
from typing import Any

import numpy as np

from streaminfer.operators.records import RecordError

_NUMBER = frozenset((int, float))  # exact types: bool is refused


class FeatureExtractor:
    """Picks the feature values of an event, by field names or from one array field.

    >>> fx = FeatureExtractor(fields=["a", "b"])
    >>> fx.values({"a": 1, "b": 2.5, "note": "ignored"})
    (1, 2.5)
    """

    def __init__(
        self,
        *,
        fields: Sequence[str] | None = None,
        array_field: str | None = None,
        width: int | None = None,
        dtype: type[np.floating[Any]] = np.float32,
    ) -> None:
        if (fields is None) == (array_field is None):
            raise ValueError("give exactly one of fields or array_field")
        self.fields = list(fields) if fields is not None else None
        self._pick = operator.itemgetter(*self.fields) if self.fields else None
        self._several = self.fields is not None and len(self.fields) > 1
        self.array_field = array_field
        self.width = len(fields) if fields is not None else width
        self.dtype = dtype

    def values(self, event: dict[str, Any]) -> Sequence[float]:
        """The feature values of one event; raises :class:`RecordError` when they are unusable."""
        if self._pick is not None:
            try:
                picked = self._pick(event)
            except KeyError:
                raise self._missing(event) from None
            row = picked if self._several else (picked,)
            if not _NUMBER.issuperset(map(type, row)):
                raise self._not_a_number(row)
            return row
        assert self.array_field is not None
        if self.array_field not in event:
            raise RecordError(
                "missing_feature", f"feature field '{self.array_field}' is missing", "validate",
                self.array_field,
            )
        array = event[self.array_field]
        if not isinstance(array, list):
            raise RecordError(
                "non_numeric_feature",
                f"'{self.array_field}' must be an array of numbers, got {type(array).__name__}",
                "validate", self.array_field,
            )
        if self.width is not None and len(array) != self.width:
            raise RecordError(
                "wrong_feature_count",
                f"'{self.array_field}' has {len(array)} values, the model takes {self.width}",
                "validate", self.array_field,
            )
        if not _NUMBER.issuperset(map(type, array)):
            raise self._not_a_number(array)
        return array

    def _missing(self, event: dict[str, Any]) -> RecordError:
        assert self.fields is not None
        name = next(name for name in self.fields if name not in event)
        return RecordError("missing_feature", f"feature '{name}' is missing", "validate", name)

    def _not_a_number(self, row: Sequence[Any]) -> RecordError:
        names = self.fields or [f"{self.array_field}[{i}]" for i in range(len(row))]
        for name, value in zip(names, row, strict=True):
            if type(value) not in _NUMBER:
                quoted = f"feature '{name}'" if self.fields else f"'{name}'"
                return RecordError(
                    "non_numeric_feature", f"{quoted} is {_describe(value)}, not a number",
                    "validate", name,
                )
        raise AssertionError("every value is a number")

    def matrix(self, rows: list[Sequence[float]]) -> tuple[np.ndarray, dict[int, RecordError]]:
        """Stack rows into the model dtype.

        Returns the matrix of the usable rows (in order) and, by row index, why each other
        row is not usable. Finiteness is checked after the cast, so a value that overflows
        float32 is caught too.
        """
        if not rows:
            return np.empty((0, self.width or 0), dtype=self.dtype), {}
        rejected: dict[int, RecordError] = {}
        try:
            matrix, finite = cast_finite(rows, self.dtype)
            kept = list(range(len(rows)))
        except (OverflowError, ValueError):  # an int beyond float, or ragged arrays
            matrix, kept, rejected = self._one_by_one(rows)
            finite = np.isfinite(matrix).all(axis=1)
        if not finite.all():
            for position in np.flatnonzero(~finite).tolist():
                rejected[kept[position]] = self.non_finite_error(rows[kept[position]])
            matrix = matrix[finite]
        return matrix, rejected

    def column_matrix(self, columns: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`matrix` for feature columns (one array of numbers per field, in the order of
        ``fields``): the model-dtype matrix of every row, and which rows are finite in it (the
        others are for :meth:`matrix` to reject with their reason). Integers go through
        float64, as numpy converts a row's Python ints.

        >>> fx = FeatureExtractor(fields=["a", "b"])
        >>> m, ok = fx.column_matrix([np.array([1, 2]), np.array([0.5, 1e300])])
        >>> m.dtype.name, ok.tolist()
        ('float32', [True, False])
        """
        if self.fields is None or len(columns) != len(self.fields):
            raise ValueError(f"give one column for each of the fields {self.fields}")
        count = len(columns[0]) if columns else 0
        stacked = np.column_stack([c.astype(np.float64) if c.dtype.kind in "iu" else c
                                   for c in columns]) if columns else np.empty((count, 0))
        matrix, finite = cast_finite(stacked, self.dtype)
        return np.ascontiguousarray(matrix), finite

    def _one_by_one(
        self, rows: list[Sequence[float]]
    ) -> tuple[np.ndarray, list[int], dict[int, RecordError]]:
        """The slow path of :meth:`matrix`: convert each row alone to find the bad ones."""
        width = self.width or Tally(len(row) for row in rows).most_common(1)[0][0]
        converted, kept, rejected = [], [], {}
        for index, row in enumerate(rows):
            if len(row) != width:
                rejected[index] = RecordError(
                    "wrong_feature_count",
                    f"'{self.array_field}' has {len(row)} values; the others in its batch "
                    f"have {width}", "validate", self.array_field,
                )
                continue
            try:
                with np.errstate(over="ignore", invalid="ignore"):
                    converted.append(np.asarray(row, dtype=self.dtype))
                kept.append(index)
            except OverflowError:
                rejected[index] = self.non_finite_error(row)
        matrix = np.stack(converted) if converted else np.empty((0, width), dtype=self.dtype)
        return matrix, kept, rejected

    def non_finite_error(self, row: Sequence[float]) -> RecordError:
        """The dead-letter reason for a row with a value that is not finite in the model dtype."""
        names = self.fields or [f"{self.array_field}[{i}]" for i in range(len(row))]
        for name, value in zip(names, row, strict=True):
            try:
                with np.errstate(over="ignore", invalid="ignore"):
                    cast = float(self.dtype(value))
            except OverflowError:
                cast = math.inf
            if not math.isfinite(cast):
                shown = repr(value) if len(repr(value)) <= 40 else f"{repr(value)[:37]}..."
                return RecordError(
                    "non_finite_feature",
                    f"feature '{name}' is {shown}, which is not finite as "
                    f"{np.dtype(self.dtype).name}",
                    "validate", name,
                )
        return RecordError("non_finite_feature", "a feature is not finite", "validate")


def cast_finite(values: Any, dtype: type[np.floating[Any]]) -> tuple[np.ndarray, np.ndarray]:
    """``values`` (rows of numbers, or a 2-D array) in the model dtype, and which rows are
    finite there: checked after the cast, so a value that overflows the dtype counts too.
    May raise ``OverflowError``/``ValueError`` (an int beyond float, ragged rows)."""
    with np.errstate(over="ignore", invalid="ignore"):
        matrix = np.asarray(values, dtype=dtype)
        return matrix, np.asarray(np.isfinite(matrix).all(axis=1), dtype=bool)


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    text = repr(value)
    return f"{type(value).__name__} {text[:40]}"
