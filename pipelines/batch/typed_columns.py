"""Score file rows of a model fed by ``model.inputs`` from their Arrow columns: each input's
array for a whole table part at once, without a JSON object per row.

The row path (``rows.table_records`` then :class:`BatchScorer`) writes each row as JSON and
checks each value in Python. This path takes a table when each mapped column is of a type
its input takes as it is (text for a string input, integers or floats for a float input,
integers for an int input, bools for a bool input) and every other column is text, a number
or a bool; it takes a row when each mapped value is present, an int fits its input and a
float is finite in its input's type, the row's JSON is surely under ``max_record_bytes``,
and the event time (if any) is present as the row's JSON would carry it. It is the row
path's operators run over columns: the model's :class:`FeedBuilder` stacks the columns
(:meth:`FeedBuilder.column_matrix`), the same :class:`BatchScorer` scores the feed and
post-processes and encodes each prediction (:meth:`BatchScorer.score_feed`). Every other row,
and every row of a part where the model or a prediction fails, goes back to the row path,
which scores or refuses it with its reason; a test holds the two equal
(tests/pipelines/batch/test_typed_columns.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from streaminfer.operators.inputs import FeedBuilder, take_rows
from streaminfer.operators.predictions import default_id
from streaminfer.operators.records import Record, SourceRecord
from streaminfer.pipelines.runtime.scoring import BatchScorer, ScoredBatch

#: Bytes a row's JSON may take per column besides its text (name, quotes, a number).
_PER_COLUMN = 64


def _kind_of(kind: pa.DataType) -> str | None:
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return "string"
    if pa.types.is_integer(kind):
        return "int"
    if pa.types.is_floating(kind):
        return "float"
    return "bool" if pa.types.is_boolean(kind) else None


#: The column kinds each element type takes as they are (the others: int columns only).
_TAKES = {"string": {"string"}, "bool": {"bool"}, "float": {"int", "float"},
          "double": {"int", "float"}, "float16": {"int", "float"}}
#: What fills a null before the row goes to the row path (by column kind).
_FILL: dict[str | None, Any] = {"string": "", "bool": False, "int": 0, "float": 0}


class TypedColumns:
    """The one model of ``scorer`` (fed by ``model.inputs``, one field an input) over the
    columns of a table."""

    def __init__(self, scorer: BatchScorer, builder: FeedBuilder) -> None:
        self.scorer = scorer
        self.builder = builder
        self.fields = [b.field or "" for b in builder.bindings]

    @staticmethod
    def fits(builder: FeedBuilder) -> bool:
        """Whether a model's inputs can be fed from columns: a plain builder (no
        tokenizer), each input from one field, no picture."""
        return type(builder) is FeedBuilder and all(
            b.field is not None and b.picture is None for b in builder.bindings)

    def usable(self, schema: pa.Schema) -> bool:
        """Whether tables of ``schema`` can take this path at all."""
        if len(schema) > 1_000 or any(_kind_of(f.type) is None for f in schema):
            return False
        id_field = self.scorer.id_field
        if id_field in schema.names and _kind_of(schema.field(id_field).type) == "float":
            return False  # a NaN id would be null in the row's JSON
        for sig, name in zip(self.builder.signature, self.fields, strict=True):
            if name not in schema.names:
                return False
            kind = _kind_of(schema.field(name).type)
            if kind not in _TAKES.get(sig.element_type, {"int"}):
                return False
        return True

    def score(self, table: pa.Table, *, topic: str, first_offset: int, stamp_ms: int
              ) -> tuple[ScoredBatch | None, np.ndarray]:
        """Predictions of the rows this path takes, and the positions of the others."""
        count = table.num_rows
        ok = self._small(table)
        columns = []
        for name in self.fields:
            column = table.column(name)
            if column.null_count:
                ok &= column.is_valid().to_numpy(zero_copy_only=False)
                column = pc.fill_null(column, _FILL[_kind_of(column.type)])
            columns.append(column.to_numpy(zero_copy_only=False))
        feed, usable = self.builder.column_matrix(columns)
        ok &= usable
        event_times = self._event_times(table, ok)
        taken = np.flatnonzero(ok)
        rest = np.flatnonzero(~ok)
        if len(taken) == 0:
            return None, rest
        offsets = (first_offset + taken).tolist()
        records: list[Record] = [SourceRecord(topic, 0, offset, stamp_ms, None, None)
                                 for offset in offsets]
        ids = self._ids(table, taken, topic, offsets)
        timed = self.scorer.event_time_field or ""
        events: list[dict[str, Any]] = [{}] * len(taken) if event_times is None else \
            [{timed: t} for t in event_times.take(pa.array(taken)).to_pylist()]
        scored = self.scorer.score_feed(records, events, ids, take_rows(feed, taken))
        if scored.dead_letters:  # the row path names them, with their rows
            return None, np.arange(count)
        return scored, rest

    def _small(self, table: pa.Table) -> np.ndarray:
        """Which rows' JSON is surely under ``max_record_bytes`` (text escaped at most
        six bytes a byte)."""
        size = np.full(table.num_rows, _PER_COLUMN * table.num_columns, dtype=np.int64)
        for name, column in zip(table.column_names, table.columns, strict=True):
            size += len(name)
            if _kind_of(column.type) == "string":
                lengths = pc.fill_null(pc.binary_length(column), 0)
                size += 6 * lengths.to_numpy(zero_copy_only=False).astype(np.int64)
        return np.asarray(size < self.scorer.max_record_bytes)

    def _event_times(self, table: pa.Table, ok: np.ndarray) -> pa.Array | None:
        """The event-time column, if the table has one (a row without a finite value
        there goes to the row path: its JSON would carry null)."""
        name = self.scorer.event_time_field
        if name is None or name not in table.column_names:
            return None
        column = table.column(name).combine_chunks()
        ok &= column.is_valid().to_numpy(zero_copy_only=False)
        if _kind_of(column.type) == "float":
            ok &= np.isfinite(pc.fill_null(column, 0).to_numpy(zero_copy_only=False))
        return column

    def _ids(self, table: pa.Table, taken: np.ndarray, topic: str,
             offsets: list[int]) -> list[Any]:
        """Each taken row's id (its id column's value; where it has none, its origin)."""
        name = self.scorer.id_field
        if name is None or name not in table.column_names:
            return [default_id(topic, 0, offset) for offset in offsets]
        values = table.column(name).take(pa.array(taken)).to_pylist()
        return [default_id(topic, 0, offset) if value is None else value
                for value, offset in zip(values, offsets, strict=True)]
