"""File rows as the records the online path sees: one JSON object per row.

A row of a Parquet or CSV file becomes the JSON encoding of its columns; a JSONL line is
taken as it is (so a malformed line is rejected exactly as a malformed event would be). The
record's origin is ``topic`` = the file, ``partition`` = 0, ``offset`` = the row's index in
the file (for JSONL: its line number, from 0).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import orjson

from streaminfer.errors import DataError
from streaminfer.operators.batch_units import Unit
from streaminfer.operators.dead_letter import DeadLetter, dead_letter
from streaminfer.operators.records import Record, RecordError, SourceRecord
from streaminfer.pipelines.batch.files import filesystem_of

_DUMP_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


#: Records to score, and rows rejected before they became records (unparsable CSV rows).
Chunk = tuple[list[Record], list[DeadLetter]]


def read_file_unit(unit: Unit, batch_size: int) -> Iterator[Chunk]:
    """The rows of a file unit as records, ``batch_size`` at a time."""
    stamp = int(time.time() * 1000)
    if unit.kind == "jsonl":
        for records in _chunks(_jsonl_records(unit.path, stamp), batch_size):
            yield records, []
        return
    table, first, bad = _table(unit)
    if bad:
        yield [], [dead_letter(record, RecordError(
            "invalid_csv_row", "CSV row does not have the header's columns", "decode"))
            for record in bad]
    for start in range(0, table.num_rows, batch_size):
        rows = table.slice(start, batch_size).to_pylist()
        yield [SourceRecord(unit.path, 0, first + start + i, stamp, None, _dump(row))
               for i, row in enumerate(rows)], []


def _dump(row: dict[str, Any]) -> bytes:
    return orjson.dumps(row, default=str, option=_DUMP_OPTIONS)


def _table(unit: Unit) -> tuple[Any, int, list[Record]]:
    """The unit's rows as an Arrow table, the file index of its first row, and the rows
    that could not be parsed (CSV) as records holding their raw text."""
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
            bad: list[Record] = []
            stamp = int(time.time() * 1000)

            def keep_bad(row: Any) -> str:
                where = row.number if row.number is not None else -1
                bad.append(SourceRecord(unit.path, 0, where, stamp, None,
                                        (row.text or "").encode()))
                return "skip"

            options = pcsv.ParseOptions(invalid_row_handler=keep_bad)
            return pcsv.read_csv(handle, parse_options=options), 0, bad
    except DataError:
        raise
    except Exception as exc:  # ArrowInvalid, OSError: the file as a whole cannot be read
        raise DataError(f"{unit.path}: cannot read it as {unit.kind}: {exc}") from None


def _jsonl_records(path: str, stamp: int) -> Iterator[Record]:
    filesystem, inner = filesystem_of(path)
    try:
        with filesystem.open_input_stream(inner) as handle:
            data = handle.read()
    except OSError as exc:
        raise DataError(f"{path}: cannot read it: {exc}") from None
    for number, line in enumerate(data.split(b"\n")):
        if line.strip():
            yield SourceRecord(path, 0, number, stamp, None, line.rstrip(b"\r"))


def _chunks(records: Any, size: int) -> Iterator[list[Record]]:
    chunk: list[Record] = []
    for record in records:
        chunk.append(record)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
