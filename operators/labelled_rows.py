"""Read labelled rows (CSV, JSONL or Parquet) into a feature matrix and labels.

One reader for offline validation, optimization and retraining from files. A row holds the
features as columns (named by the pipeline's ``source.features``), or as one list column
(``source.features_field``), or as a ``features`` object of name -> value (the labelled
examples the joiner writes, dumped to a file), and a label column.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from streaminfer.errors import DataError

FORMATS = {".csv": "csv", ".jsonl": "json", ".ndjson": "json", ".json": "json",
           ".parquet": "parquet", ".pq": "parquet"}


@dataclass(frozen=True)
class LabelledRows:
    """Features ``[n, k]`` (float32, in the model's input order) and their labels."""

    features: tuple[str, ...]
    X: np.ndarray
    y: np.ndarray
    table: pa.Table


def read_table(path: str | Path) -> pa.Table:
    """A CSV, JSON Lines or Parquet file as an Arrow table, chosen by the file's suffix."""
    path = Path(path)
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise DataError(f"{path}: unknown format {path.suffix!r}; use one of "
                        f"{', '.join(sorted(FORMATS))}")
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        if kind == "csv":
            from pyarrow import csv
            return csv.read_csv(path)
        if kind == "json":
            from pyarrow import json
            return json.read_json(path)
        from pyarrow import parquet
        return parquet.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"{path}: cannot read as {kind}: {exc}") from exc


def labelled_rows(
    table: pa.Table,
    features: Sequence[str] | None,
    label_field: str = "label",
    features_field: str | None = None,
    where: str = "the data",
) -> LabelledRows:
    """Pick the features and the label out of ``table``; errors name the missing column."""
    if label_field not in table.column_names:
        raise DataError(f"{where}: no label column {label_field!r} (columns: "
                        f"{', '.join(table.column_names)}); set the label field")
    y = np.asarray(table.column(label_field).to_pylist())
    if features_field is not None or features is None:
        field = features_field or "features"
        if field not in table.column_names:
            raise DataError(f"{where}: no features column {field!r}; name the feature "
                            "columns (source.features) or the list column (source.features_field)")
        return _from_nested(table, field, features, y)
    missing = [name for name in features if name not in table.column_names]
    if missing and "features" in table.column_names:
        return _from_nested(table, "features", features, y)
    if missing:
        raise DataError(f"{where}: feature column(s) {', '.join(map(repr, missing))} missing; "
                        "the file needs the columns named in source.features")
    X = np.column_stack([table.column(name).to_numpy(zero_copy_only=False)
                         for name in features]).astype(np.float32)
    return LabelledRows(tuple(features), X, y, table)


def _from_nested(table: pa.Table, field: str, features: Sequence[str] | None,
                 y: np.ndarray) -> LabelledRows:
    values = table.column(field).to_pylist()
    if values and isinstance(values[0], dict):
        names = tuple(features) if features is not None else tuple(values[0])
        try:
            X = np.array([[row[name] for name in names] for row in values], dtype=np.float32)
        except KeyError as exc:
            raise DataError(f"feature {exc} missing from the {field!r} objects") from exc
        return LabelledRows(names, X, y, table)
    X = np.array(values, dtype=np.float32)
    names = tuple(features) if features is not None else tuple(
        f"f{i}" for i in range(X.shape[1] if X.ndim == 2 else 0))
    return LabelledRows(names, X, y, table)
