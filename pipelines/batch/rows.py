"""File rows as the records the online path sees: one JSON object per row.

A row of a Parquet or CSV file becomes the JSON encoding of its columns; a JSONL line is
taken as it is (a malformed line becomes a dead letter exactly as a malformed event would). The
record's origin is ``topic`` = the file, ``partition`` = 0, ``offset`` = the row's index in
the file (for JSONL: its line number, from 0; for CSV: among the rows that parsed; a CSV
row dead-lettered while reading has its line number, from 1, the header).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any

import numpy as np
import orjson

from streaminfer.errors import DataError
from streaminfer.operators.batch_units import Unit
from streaminfer.operators.dead_letter import SOURCE_OFFSET, DeadLetter, dead_letter
from streaminfer.operators.records import Record, RecordError, SourceRecord
from streaminfer.pipelines.batch.files import filesystem_of

_DUMP_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def table_records(
    table: Any, path: str, offsets: np.ndarray, stamp_ms: int
) -> list[Record]:
    """Rows of an Arrow table as records (``offsets``: each row's index in its file)."""
    return [SourceRecord(path, 0, offset, stamp_ms, None, _dump(row))
            for offset, row in zip(offsets.tolist(), table.to_pylist(), strict=True)]


def _dump(row: dict[str, Any]) -> bytes:
    return orjson.dumps(row, default=str, option=_DUMP_OPTIONS)


def read_table(unit: Unit, stamp_ms: int,
               numeric: Collection[str] = ()) -> tuple[Any, int, list[DeadLetter]]:
    """A Parquet or CSV unit as an Arrow table, the file index of its first row, and the
    dead letters of a CSV file: rows without the header's columns (their raw text), and rows
    with a cell of a ``numeric`` column that is not a number (see :func:`numeric_cells`);
    each one's offset is its line number in the file (1: the header)."""
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    filesystem, inner = filesystem_of(unit.path)
    try:
        with filesystem.open_input_file(inner) as handle:
            if unit.kind == "parquet":
                parquet = pq.ParquetFile(handle)
                meta = parquet.metadata
                first = sum(meta.row_group(i).num_rows for i in range(unit.row_groups[0]))
                return parquet.read_row_groups(list(unit.row_groups)), first, []
            bad: list[DeadLetter] = []
            skipped: list[int] = []

            def keep_bad(row: Any) -> str:
                where = row.number if row.number is not None else -1
                skipped.append(where)
                record = SourceRecord(unit.path, 0, where, stamp_ms, None,
                                      (row.text or "").encode())
                bad.append(dead_letter(record, RecordError(
                    "invalid_csv_row", f"CSV line {where} does not have the header's "
                    "columns", "decode")))
                return "skip"

            options = pcsv.ParseOptions(invalid_row_handler=keep_bad)
            # one thread: pyarrow knows an invalid row's line number only then
            table = pcsv.read_csv(handle, parse_options=options,
                                  read_options=pcsv.ReadOptions(use_threads=False))
    except Exception as exc:  # ArrowInvalid, OSError: the file as a whole cannot be read
        raise DataError(f"{unit.path}: cannot read it as {unit.kind}: {exc}") from None
    table, refused = numeric_cells(table, numeric, unit.path, stamp_ms, skipped)
    return table, 0, sorted([*bad, *refused], key=_offset)


def _offset(reject: DeadLetter) -> int:
    return int(dict(reject.headers)[SOURCE_OFFSET])


def numeric_cells(table: Any, numeric: Collection[str], path: str, stamp_ms: int,
                  skipped: Collection[int] = ()) -> tuple[Any, list[DeadLetter]]:
    """Parse, cell by cell, the ``numeric`` columns that a CSV reader typed as text (one cell
    that is not a number makes the whole column text): the table with those columns as
    float64 (empty and null-spelled cells null), less the rows with a cell that is not a
    number, which come back as dead letters naming that field and the row's line (``skipped``:
    the lines already dead-lettered; blank lines and quoted line breaks are not counted)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    text = [name for name in numeric if name in table.column_names
            and (pa.types.is_string(table.schema.field(name).type)
                 or pa.types.is_large_string(table.schema.field(name).type))]
    if not text:
        return table, []
    nulls = frozenset(pcsv.ConvertOptions().null_values)
    wrong: dict[int, tuple[str, str]] = {}  # row -> the first field (in order) and its text
    for name in text:
        values: list[float | None] = []
        for row, cell in enumerate(table.column(name).to_pylist()):
            values.append(_number(cell, nulls))
            if values[-1] is None and cell is not None and cell.strip() not in nulls:
                wrong.setdefault(row, (name, cell))
        table = table.set_column(table.column_names.index(name), name,
                                 pa.array(values, pa.float64()))
    if not wrong:
        return table, []
    lines = _lines(table.num_rows, skipped)
    refused = []
    originals = table.take(pa.array(sorted(wrong))).to_pylist()
    for row, original in zip(sorted(wrong), originals, strict=True):
        name, cell = wrong[row]
        record = SourceRecord(path, 0, lines[row], stamp_ms, None,
                              _dump({**original, name: cell}))
        refused.append(dead_letter(record, RecordError(
            "non_numeric_feature", f"feature '{name}' is {cell[:40]!r} on line {lines[row]}, "
            "not a number", "decode", name)))
    keep = np.ones(table.num_rows, dtype=bool)
    keep[sorted(wrong)] = False
    return table.filter(pa.array(keep)), refused


def _number(cell: str | None, nulls: frozenset[str]) -> float | None:
    if cell is None or cell.strip() in nulls:
        return None
    try:
        return float(cell)
    except ValueError:
        return None


def _lines(rows: int, skipped: Collection[int]) -> list[int]:
    """The line of each parsed row: data starts on line 2; rejected lines are not rows."""
    gone = set(skipped)
    lines: list[int] = []
    line = 2
    while len(lines) < rows:
        if line not in gone:
            lines.append(line)
        line += 1
    return lines


def jsonl_records(path: str, stamp_ms: int, batch_size: int) -> Iterator[list[Record]]:
    """The lines of a JSONL file as records, ``batch_size`` at a time (blank lines skipped)."""
    filesystem, inner = filesystem_of(path)
    try:
        with filesystem.open_input_stream(inner) as handle:
            data = handle.read()
    except OSError as exc:
        raise DataError(f"{path}: cannot read it: {exc}") from None
    chunk: list[Record] = []
    for number, line in enumerate(data.split(b"\n")):
        if line.strip():
            chunk.append(SourceRecord(path, 0, number, stamp_ms, None, line.rstrip(b"\r")))
            if len(chunk) == batch_size:
                yield chunk
                chunk = []
    if chunk:
        yield chunk
