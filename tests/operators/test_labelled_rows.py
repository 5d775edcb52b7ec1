"""Labelled rows from CSV, JSONL and Parquet; errors that name the missing column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pytest
from pyarrow import csv, parquet

from streaminfer.errors import DataError
from streaminfer.operators.labelled_rows import labelled_rows, read_table

ROWS = [{"a": 1.0, "b": 2.0, "label": 0}, {"a": 3.0, "b": 4.5, "label": 1}]


def write(path: Path) -> Path:
    table = pa.Table.from_pylist(ROWS)
    if path.suffix == ".csv":
        csv.write_csv(table, path)
    elif path.suffix == ".parquet":
        parquet.write_table(table, path)
    else:
        path.write_bytes(b"".join(orjson.dumps(row) + b"\n" for row in ROWS))
    return path


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_each_format_gives_the_same_rows(tmp_path: Path, suffix: str) -> None:
    rows = labelled_rows(read_table(write(tmp_path / f"d{suffix}")), ["b", "a"])
    assert rows.X.tolist() == [[2.0, 1.0], [4.5, 3.0]]
    assert rows.y.tolist() == [0, 1]


def test_nested_features_as_the_joiner_writes_them(tmp_path: Path) -> None:
    path = tmp_path / "examples.jsonl"
    path.write_bytes(orjson.dumps({"features": {"a": 1, "b": 2}, "label": 1}) + b"\n")
    rows = labelled_rows(read_table(path), ["b", "a"])
    assert rows.X.tolist() == [[2.0, 1.0]] and rows.y.tolist() == [1]
    assert labelled_rows(read_table(path), None).features == ("a", "b")


def test_list_column(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(orjson.dumps({"x": [1, 2, 3], "y": 5.5}) + b"\n")
    rows = labelled_rows(read_table(path), None, label_field="y", features_field="x")
    assert rows.X.shape == (1, 3) and rows.features == ("f0", "f1", "f2")
    np.testing.assert_array_equal(rows.y, [5.5])


def test_errors_name_what_is_missing(tmp_path: Path) -> None:
    table = read_table(write(tmp_path / "d.csv"))
    with pytest.raises(DataError, match="'c'"):
        labelled_rows(table, ["a", "c"])
    with pytest.raises(DataError, match="no label column 'target'"):
        labelled_rows(table, ["a"], label_field="target")
    with pytest.raises(DataError, match="unknown format"):
        read_table(tmp_path / "d.xlsx")
    with pytest.raises(DataError, match="no such file"):
        read_table(tmp_path / "absent.csv")
