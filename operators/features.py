"""Turn decoded events into the model's feature matrix, rejecting what cannot be scored."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from streaminfer.operators.records import RecordError

_NUMBER = (int, float)


class FeatureExtractor:
    """Picks the feature values of an event, by field names or from one array field.

    >>> fx = FeatureExtractor(fields=["a", "b"])
    >>> fx.values({"a": 1, "b": 2.5})
    [1, 2.5]
    """

    def __init__(
        self,
        *,
        fields: list[str] | None = None,
        array_field: str | None = None,
        width: int | None = None,
        dtype: type[np.floating[Any]] = np.float32,
    ) -> None:
        if (fields is None) == (array_field is None):
            raise ValueError("give exactly one of fields or array_field")
        self.fields = fields
        self.array_field = array_field
        self.width = len(fields) if fields is not None else width
        self.dtype = dtype

    def values(self, event: dict[str, Any]) -> list[float]:
        """The feature values of one event; raises :class:`RecordError` when they are unusable."""
        if self.fields is not None:
            return [self._number(event, name) for name in self.fields]
        assert self.array_field is not None
        if self.array_field not in event:
            raise RecordError(
                "missing_feature", f"feature field '{self.array_field}' is missing", "validate"
            )
        array = event[self.array_field]
        if not isinstance(array, list):
            raise RecordError(
                "non_numeric_feature",
                f"'{self.array_field}' must be an array of numbers, got {type(array).__name__}",
                "validate",
            )
        if self.width is not None and len(array) != self.width:
            raise RecordError(
                "wrong_feature_count",
                f"'{self.array_field}' has {len(array)} values, the model takes {self.width}",
                "validate",
            )
        for index, value in enumerate(array):
            if type(value) not in _NUMBER:
                raise RecordError(
                    "non_numeric_feature",
                    f"'{self.array_field}[{index}]' is {_describe(value)}, not a number",
                    "validate",
                )
        return array

    @staticmethod
    def _number(event: dict[str, Any], name: str) -> float:
        try:
            value = event[name]
        except KeyError:
            raise RecordError(
                "missing_feature", f"feature '{name}' is missing", "validate"
            ) from None
        if type(value) not in _NUMBER:
            raise RecordError(
                "non_numeric_feature", f"feature '{name}' is {_describe(value)}, not a number",
                "validate",
            )
        return value  # type: ignore[no-any-return]

    def matrix(self, rows: list[list[float]]) -> tuple[np.ndarray, list[int]]:
        """Stack rows into the model dtype; returns the matrix and the rows that are not finite.

        Finiteness is checked after the cast, so a value that overflows float32 is caught too.
        """
        if not rows:
            return np.empty((0, self.width or 0), dtype=self.dtype), []
        with np.errstate(over="ignore", invalid="ignore"):
            matrix = np.asarray(rows, dtype=self.dtype)
        finite = np.isfinite(matrix).all(axis=1)
        bad = [] if finite.all() else np.flatnonzero(~finite).tolist()
        return matrix, bad

    def non_finite_error(self, row: list[float]) -> RecordError:
        """The dead-letter reason for a row :meth:`matrix` flagged."""
        names = self.fields or [f"{self.array_field}[{i}]" for i in range(len(row))]
        for name, value in zip(names, row):
            with np.errstate(over="ignore", invalid="ignore"):
                cast = float(self.dtype(value))
            if not math.isfinite(cast):
                return RecordError(
                    "non_finite_feature",
                    f"feature '{name}' is {value!r}, which is not finite as "
                    f"{np.dtype(self.dtype).name}",
                    "validate",
                )
        return RecordError("non_finite_feature", "a feature is not finite", "validate")


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    text = repr(value)
    return f"{type(value).__name__} {text[:40]}"
