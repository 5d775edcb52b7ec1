"""Read labelled rows (CSV, JSONL or Parquet) into a feature matrix and labels.

One reader for offline validation, optimization and retraining from files. A row holds the
features as columns (named by the pipeline's ``source.features``), or as one list column
(``source.features_field``), or as a ``features`` object of name -> value (the labelled
examples the joiner writes, dumped to a file), and a label column. For a model fed by
``model.inputs`` (strings, token ids, several inputs), :func:`labelled_events` keeps each row
as the event it stands for, to be fed by the model's own feed builder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from streaminfer.errors import DataError

FORMATS = {".csv": "csv", ".jsonl": "json", ".ndjson": "json", ".json": "json",
           ".parquet": "parquet", ".pq": "parquet"}


@dataclass(frozen=True)
class LabelledRows:
    """Features ``[n, k]`` (float32, in the model's input order) and their labels; or,
    from :func:`labelled_events`, each row as an event (``X`` then has no columns)."""

    features: tuple[str, ...]
    X: np.ndarray
    y: np.ndarray
    table: pa.Table
    events: tuple[dict[str, Any], ...] | None = None

    def take(self, index: Sequence[int]) -> LabelledRows:
        """Only the rows at ``index``, in that order."""
        picked = np.asarray(index, dtype=np.int64)
        events = None if self.events is None else tuple(self.events[i] for i in picked)
        return LabelledRows(self.features, self.X[picked], self.y[picked],
                            self.table.take(pa.array(picked)), events)


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


#: The columns of a row the reports read beside the model's inputs (labelled examples).
REPORT_COLUMNS = ("label", "model_version", "predicted_at", "outputs")


def read_events(path: str | Path) -> list[dict[str, Any]]:
    """Each row of a file as a dict: JSON Lines read line by line (a cell of another type
    than its column's is the model's feed to judge, not a reason to refuse the file), CSV
    and Parquet through Arrow."""
    path = Path(path)
    if FORMATS.get(path.suffix.lower()) != "json":
        return list(read_table(path).to_pylist())
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    import orjson

    events = []
    with path.open("rb") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                event = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise DataError(f"{path}:{number}: not JSON ({exc})") from None
            if not isinstance(event, dict):
                raise DataError(f"{path}:{number}: not a JSON object")
            events.append(event)
    return events


def labelled_events(events: Sequence[dict[str, Any]], label_field: str = "label",
                    where: str = "the data") -> LabelledRows:
    """Each row as the event it stands for (a labelled example's ``features`` object is
    spread into it, as the joiner wrote the event's input fields there), and its label;
    ``table`` holds the label and :data:`REPORT_COLUMNS` the rows have.

    >>> rows = labelled_events([{"label": 1, "features": {"country": "FR"}}])
    >>> rows.events[0]["country"], rows.y.tolist(), rows.X.shape
    ('FR', [1], (1, 0))
    """
    if events and label_field not in events[0]:
        raise DataError(f"{where}: no label field {label_field!r} (fields: "
                        f"{', '.join(events[0])}); set the label field")
    spread = []
    for event in events:
        nested = event.get("features")
        spread.append({**nested, **event} if isinstance(nested, dict) else dict(event))
    names = [label_field] + [c for c in REPORT_COLUMNS
                             if c != label_field and events and c in events[0]]
    try:
        table = pa.table({c: pa.array([e.get(c) for e in events]) for c in names})
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DataError(f"{where}: {exc}") from None
    y = np.asarray(table.column(label_field).to_pylist())
    return LabelledRows((), np.empty((len(spread), 0), np.float32), y, table, tuple(spread))


def _label_column(table: pa.Table, label_field: str, where: str) -> np.ndarray:
    if label_field not in table.column_names:
        raise DataError(f"{where}: no label column {label_field!r} (columns: "
                        f"{', '.join(table.column_names)}); set the label field")
    return np.asarray(table.column(label_field).to_pylist())


def labelled_rows(
    table: pa.Table,
    features: Sequence[str] | None,
    label_field: str = "label",
    features_field: str | None = None,
    where: str = "the data",
) -> LabelledRows:
    """Pick the features and the label out of ``table``; errors name the missing column."""
    y = _label_column(table, label_field, where)
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
