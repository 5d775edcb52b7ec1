"""File rows as the records the online path sees: one JSON object per row.

A row of a Parquet or CSV file becomes the JSON encoding of its columns; a JSONL line is
taken as it is (a malformed line becomes a dead letter exactly as a malformed event would). The
record's origin is ``topic`` = the file, ``partition`` = 0, ``offset`` = the row's index in
the file (for JSONL: its line number, from 0; for CSV: among the rows that parsed).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import orjson

from streaminfer.errors import DataError
from streaminfer.operators.batch_units import Unit
from streaminfer.operators.dead_letter import DeadLetter, dead_letter
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


def read_table(unit: Unit, stamp_ms: int) -> tuple[Any, int, list[DeadLetter]]:
    """A Parquet or CSV unit as an Arrow table, the file index of its first row, and the
    dead letters for rows that could not be parsed (CSV), holding their raw text."""
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

            def keep_bad(row: Any) -> str:
                where = row.number if row.number is not None else -1
                record = SourceRecord(unit.path, 0, where, stamp_ms, None,
                                      (row.text or "").encode())
                bad.append(dead_letter(record, RecordError(
                    "invalid_csv_row", "CSV row does not have the header's columns", "decode")))
                return "skip"

            options = pcsv.ParseOptions(invalid_row_handler=keep_bad)
            return pcsv.read_csv(handle, parse_options=options), 0, bad
    except Exception as exc:  # ArrowInvalid, OSError: the file as a whole cannot be read
        raise DataError(f"{unit.path}: cannot read it as {unit.kind}: {exc}") from None


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
