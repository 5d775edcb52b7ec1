"""A model's training profile: what its inputs and predictions looked like when it was built.

Per feature, quantile bin edges and the share of training rows in each bin; for the
predictions, the same over one score (the positive-class probability of a binary classifier,
a regressor's output) or the class shares of the predicted label. Drift (``drift.py``)
compares live traffic's bins with these shares.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(1000, 2))
>>> p = build_profile(["a", "b"], X, {"variable": X[:, 0] + X[:, 1]})
>>> len(p.features), p.prediction.kind, round(sum(p.features[0].expected), 6)
(2, 'numeric', 1.0)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
import orjson

from streaminfer.errors import DataError
from streaminfer.operators.output_roles import published_field

#: Bins per variable (fewer when a variable has few distinct values).
BINS = 10
FORMAT = 1
Kind = Literal["numeric", "categorical"]


@dataclass(frozen=True)
class Bins:
    """How one variable is binned, and the share of training rows in each bin.

    ``numeric``: ``edges`` are the inner cut points; bin ``i`` holds ``edges[i-1] < x <=
    edges[i]`` (the first from -inf, the last to +inf), so ``len(expected) == len(edges) + 1``.
    ``categorical``: ``categories`` in order, then one bin for anything else.
    """

    name: str
    kind: Kind
    expected: tuple[float, ...]
    edges: tuple[float, ...] = ()
    categories: tuple[Any, ...] = ()

    @property
    def size(self) -> int:
        return len(self.expected)

    @cached_property
    def _edges(self) -> np.ndarray:
        return np.asarray(self.edges, dtype=np.float64)

    def counts(self, values: np.ndarray) -> np.ndarray:
        """How many of ``values`` fall in each bin (int64, ``size`` long); NaN counts in the
        last bin."""
        values = np.asarray(values)
        if self.kind == "numeric":
            which = np.searchsorted(self._edges, values, side="left")
        else:
            lookup = {c: i for i, c in enumerate(self.categories)}
            other = len(self.categories)
            which = np.fromiter((lookup.get(plain(v), other) for v in values.tolist()),
                                dtype=np.int64, count=len(values))
        return np.bincount(which, minlength=self.size).astype(np.int64)[: self.size]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "expected": list(self.expected),
                "edges": list(self.edges), "categories": list(self.categories)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Bins:
        return cls(name=str(data["name"]), kind=data["kind"],
                   expected=tuple(float(v) for v in data["expected"]),
                   edges=tuple(float(v) for v in data.get("edges", ())),
                   categories=tuple(data.get("categories", ())))


@dataclass(frozen=True)
class PredictionBins(Bins):
    """The prediction's bins, and which output (and column of it) they read: in a written
    profile the model output's own name; :meth:`Profile.published` reads the field
    ``model.outputs`` publishes it under instead."""

    output: str = ""
    column: int | None = None

    def values(self, outputs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """The binned value of each prediction (one dict of outputs per row)."""
        if self.column is None:
            return np.asarray([_scalar(row[self.output]) for row in outputs])
        return np.asarray([row[self.output][self.column] for row in outputs], dtype=np.float64)

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "output": self.output, "column": self.column}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PredictionBins:
        base = Bins.from_json(data)
        return cls(base.name, base.kind, base.expected, base.edges, base.categories,
                   output=str(data["output"]), column=data.get("column"))


@dataclass(frozen=True)
class Profile:
    """The training profile of one model file (``model_sha256``: which one)."""

    features: tuple[Bins, ...]
    prediction: PredictionBins | None
    rows: int
    model_sha256: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(b.name for b in self.features)

    def published(self, outputs: Mapping[str, str] | None) -> Profile:
        """This profile reading the prediction from the field ``outputs`` (``model.outputs``)
        publishes the profiled output under; no prediction bins when it is not published."""
        if self.prediction is None:
            return self
        name = published_field(self.prediction.output, outputs)
        return replace(self, prediction=None if name is None
                       else replace(self.prediction, output=name))

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "rows": self.rows, "model_sha256": self.model_sha256,
                "features": [b.to_json() for b in self.features],
                "prediction": self.prediction.to_json() if self.prediction else None,
                "extra": self.extra}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Profile:
        prediction = data.get("prediction")
        return cls(features=tuple(Bins.from_json(b) for b in data["features"]),
                   prediction=PredictionBins.from_json(prediction) if prediction else None,
                   rows=int(data["rows"]), model_sha256=data.get("model_sha256"),
                   extra=dict(data.get("extra") or {}))

    def write(self, path: str | Path) -> Path:
        """Write the profile as JSON (atomically: a temporary file renamed)."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(orjson.dumps(self.to_json(), option=orjson.OPT_INDENT_2))
        tmp.replace(path)
        return path

    @classmethod
    def read(cls, path: str | Path) -> Profile:
        """Read a profile written by :meth:`write`; a bad file is a :class:`DataError`."""
        try:
            return cls.from_json(orjson.loads(Path(path).read_bytes()))
        except FileNotFoundError:
            raise DataError(f"{path}: no such profile") from None
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise DataError(f"{path}: not a training profile ({exc})") from None


def profile_path(model_path: str | Path) -> Path:
    """Where a model's profile lives: beside it, ``<model file>.profile.json``."""
    return Path(f"{model_path}.profile.json")


def integer_levels(values: np.ndarray, bins: int = BINS) -> np.ndarray | None:
    """The distinct values, sorted, when they are at most ``bins`` integers (a flag, a code,
    a small count); else ``None``.

    >>> integer_levels(np.array([0.0, 1.0, 1.0, 0.0])).tolist(), integer_levels(np.arange(24.0))
    ([0.0, 1.0], None)
    """
    levels = np.unique(values)
    if len(levels) > bins or not np.array_equal(levels, np.round(levels)):
        return None
    return levels


def numeric_bins(name: str, values: np.ndarray, bins: int = BINS) -> Bins:
    """Bins of ``values`` with their training shares: one per value when the values are at
    most ``bins`` distinct integers (:func:`integer_levels`), else quantile bins (fewer when
    values repeat)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        raise DataError(f"{name}: no finite values to profile")
    levels = integer_levels(values, bins)
    if levels is not None:  # bin i holds levels[i]; values beyond them the first or last bin
        edges = levels[:-1]
    else:
        edges = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]))
    if len(edges) and edges[-1] >= values.max():  # keep a non-empty last bin above the last edge
        edges = edges[:-1]
    draft = Bins(name, "numeric", (0.0,) * (len(edges) + 1), tuple(edges.tolist()))
    return with_shares(draft, values)


def categorical_bins(name: str, values: np.ndarray) -> Bins:
    """One bin per value seen (sorted), plus one for anything else."""
    seen = sorted({plain(v) for v in np.asarray(values).tolist()}, key=str)
    draft = Bins(name, "categorical", (0.0,) * (len(seen) + 1), categories=tuple(seen))
    return with_shares(draft, np.asarray(values))


def with_shares(draft: Bins, values: np.ndarray) -> Bins:
    """``draft`` with the share of ``values`` in each of its bins."""
    counts = draft.counts(values)
    shares = tuple((counts / max(1, counts.sum())).tolist())
    return Bins(draft.name, draft.kind, shares, draft.edges, draft.categories)


def output_columns(
    outputs: Mapping[str, Any] | Sequence[Mapping[str, Any]],
) -> dict[str, np.ndarray]:
    """A model's outputs as name -> array: from a dict of arrays, or one dict per row."""
    if isinstance(outputs, Mapping):
        return {str(k): np.asarray(v) for k, v in outputs.items()}
    rows = list(outputs)
    if not rows:
        return {}
    return {name: np.asarray([row[name] for row in rows]) for name in rows[0]}


def prediction_bins(outputs: Mapping[str, np.ndarray], bins: int = BINS) -> PredictionBins | None:
    """Bins of the prediction: a binary classifier's positive-class probability, else a
    predicted class label's shares, else the first numeric output; ``None`` if none fits."""
    for name, column in outputs.items():
        if column.ndim == 2 and column.shape[1] == 2 and column.dtype.kind == "f":
            return _as_prediction(numeric_bins(f"{name}[1]", column[:, 1], bins), name, 1)
    for name, column in outputs.items():
        if column.ndim == 1 and column.dtype.kind in "iub":
            return _as_prediction(categorical_bins(name, column), name, None)
    for name, column in outputs.items():
        flat = column[:, 0] if column.ndim == 2 and column.shape[1] == 1 else column
        if flat.ndim == 1 and flat.dtype.kind == "f":
            return _as_prediction(numeric_bins(name, flat, bins), name, None)
    return None


def _as_prediction(b: Bins, output: str, column: int | None) -> PredictionBins:
    return PredictionBins(b.name, b.kind, b.expected, b.edges, b.categories, output=output,
                          column=column)


def build_profile(
    features: Sequence[str], X: np.ndarray,
    outputs: Mapping[str, Any] | Sequence[Mapping[str, Any]], *,
    bins: int = BINS, model_sha256: str | None = None,
) -> Profile:
    """The profile of a model from its training rows ``X`` ``[n, k]`` (columns in
    ``features`` order) and its predictions on them (output name -> array, or one dict of
    outputs per row, as :meth:`OnnxModel.predict_rows` gives)."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != len(features):
        raise DataError(f"profile: X has shape {X.shape}, expected [rows, {len(features)}]")
    columns = tuple(numeric_bins(name, X[:, i], bins) for i, name in enumerate(features))
    return Profile(columns, prediction_bins(output_columns(outputs), bins), rows=len(X),
                   model_sha256=model_sha256)


def plain(value: Any) -> Any:
    """A JSON-stable key: integral floats as ints, numpy scalars as Python ones."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _scalar(value: Any) -> Any:
    return value[0] if isinstance(value, list) and len(value) == 1 else value
