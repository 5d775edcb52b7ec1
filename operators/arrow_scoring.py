"""Score Arrow tables of file rows column by column, for the rows whose predictions are
certain to equal the row path's (:class:`BatchScorer` over one JSON object per row).

The row path costs ~30-50 us a row in Python (a JSON object per row, one dict per
prediction); this one costs what ONNX Runtime and Arrow cost. It takes a table only when
every column is numeric (or the id), so a row's JSON is small and holds exactly these
numbers (an event-time column, when it has no nulls, is copied as its numbers); it takes a
row only when every feature is present and finite in the model dtype, and the id is
present. Everything else goes back to the caller for the row path, which rejects or scores
it with the usual reasons. The same fields, in the same order and with the same Arrow types
as the row path's predictions read into Arrow; a test holds the two equal
(tests/operators/test_arrow_scoring.py).

It is the row path's operators run over columns, not a copy of them: the row path's own
:class:`FeatureExtractor` builds the matrix (:meth:`FeatureExtractor.column_matrix`, the
same dtype cast and finiteness rule as :meth:`FeatureExtractor.matrix`), the same
:class:`OnnxModel` runs it, :func:`output_column` shapes each output as the row path's
:func:`rows_of` does, and :func:`prediction_fields` names and orders the columns as it does a
prediction's fields. What is its own is Arrow: nulls, and the Arrow type each Python value
would get.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from streaminfer.operators.features import FeatureExtractor
from streaminfer.operators.model_runner import OnnxModel, output_column
from streaminfer.operators.predictions import default_id, prediction_fields

#: Rows whose JSON could exceed this many bytes are left to the row path's size check.
SMALL_ROW_BYTES = 65_536


def _numeric(kind: pa.DataType) -> bool:
    return bool(pa.types.is_integer(kind) or pa.types.is_floating(kind))


class ArrowScorer:
    """One model over named feature columns (``source.features``), single-model pipelines:
    ``model`` and ``extractor`` are the row path's (``BatchScorer.extractors[name]``)."""

    def __init__(
        self, model: OnnxModel, extractor: FeatureExtractor, *, id_field: str | None,
        event_time_field: str | None, max_record_bytes: int,
    ) -> None:
        if extractor.fields is None:
            raise ValueError("the column-wise path takes named feature fields only")
        self.model = model
        self.extractor = extractor
        self.fields: Sequence[str] = extractor.fields
        self.id_field = id_field
        self.event_time_field = event_time_field
        self.max_record_bytes = max_record_bytes

    def usable(self, schema: pa.Schema) -> bool:
        """Whether tables of ``schema`` can take this path at all."""
        if self.max_record_bytes < SMALL_ROW_BYTES or len(schema) > 1_000:
            return False
        if any(name not in schema.names for name in self.fields):
            return False
        for field in schema:
            is_id = field.name == self.id_field and (
                pa.types.is_string(field.type) or pa.types.is_large_string(field.type)
                or pa.types.is_integer(field.type))
            if not (is_id or _numeric(field.type)):
                return False
        return True

    def score(
        self, table: pa.Table, *, topic: str, first_offset: int, stamp_ms: int, now_ms: int
    ) -> tuple[pa.Table | None, np.ndarray]:
        """Predictions of the rows this path takes, and the positions of the others."""
        matrix, ok = self._matrix(table)
        timed = self.event_time_field is not None and self.event_time_field in table.column_names
        if timed and table.column(self.event_time_field).null_count:
            return None, np.arange(table.num_rows)  # the row path leaves the field out there
        has_id = self.id_field is not None and self.id_field in table.column_names
        if has_id:
            assert self.id_field is not None
            ok &= table.column(self.id_field).is_valid().to_numpy(zero_copy_only=False)
        taken = np.flatnonzero(ok)
        rest = np.flatnonzero(~ok)
        if len(taken) == 0:
            return None, rest
        try:  # the row path scores each row alone and names the failing ones
            outputs = [output_column(o, len(taken)) for o in self.model.run(matrix[taken])]
        except Exception:
            return None, np.arange(table.num_rows)
        if not all(isinstance(o, np.ndarray) for o in outputs):  # ZipMap: lists of dicts
            return None, np.arange(table.num_rows)
        offsets = first_offset + taken
        if has_id:
            assert self.id_field is not None
            ids = table.column(self.id_field).take(pa.array(taken)).combine_chunks()
            if pa.types.is_large_string(ids.type):
                ids = ids.cast(pa.string())
            elif pa.types.is_integer(ids.type):
                ids = ids.cast(pa.int64())
        else:
            ids = pa.array([default_id(topic, 0, offset) for offset in offsets.tolist()])
        times = None
        if timed:
            assert self.event_time_field is not None
            times = _flat(table.column(self.event_time_field).take(pa.array(taken)).to_numpy())
        return self._predictions(ids, outputs, topic, offsets, stamp_ms, now_ms, times), rest

    def _matrix(self, table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
        """The feature matrix, and which rows have every feature present and finite."""
        present = np.ones(table.num_rows, dtype=bool)
        columns = []
        for name in self.fields:
            column = table.column(name)
            if column.null_count:
                present &= column.is_valid().to_numpy(zero_copy_only=False)
                column = pc.fill_null(column, 0)
            columns.append(column.to_numpy())
        matrix, finite = self.extractor.column_matrix(columns)
        return matrix, present & finite

    def _predictions(
        self, ids: pa.Array, outputs: list[np.ndarray], topic: str, offsets: np.ndarray,
        stamp_ms: int, now_ms: int, event_times: pa.Array | None,
    ) -> pa.Table:
        count = len(offsets)
        info = self.model.info
        source = pa.StructArray.from_arrays(
            [pa.repeat(pa.scalar(topic, pa.string()), count), pa.array(np.zeros(count, np.int64)),
             pa.array(offsets.astype(np.int64))], names=["topic", "partition", "offset"])
        return pa.table(prediction_fields(
            event_id=ids, model=pa.repeat(pa.scalar(info.name, pa.string()), count),
            model_version=pa.repeat(pa.scalar(info.version, pa.string()), count),
            outputs={name: arrow_column(value)
                     for name, value in zip(info.outputs.values(), outputs, strict=True)},
            latency_ms=pa.array(np.full(count, now_ms - stamp_ms, dtype=np.int64)),
            source=source, ts=pa.array(np.full(count, now_ms, dtype=np.int64)),
            event_time=event_times,
        ))


def arrow_column(value: np.ndarray) -> pa.Array:
    """One model output (shaped by :func:`output_column`) as the Arrow column that its
    per-row Python values would make (floats as double; ints as int64; rows of a 2-D output
    as lists)."""
    if value.ndim == 1:
        return _flat(value)
    if value.ndim == 2:
        rows, width = value.shape
        offsets = pa.array(np.arange(0, rows * width + 1, width, dtype=np.int32))
        return pa.ListArray.from_arrays(offsets, _flat(value.reshape(-1)))
    return pa.array(value.tolist())


def _flat(value: np.ndarray) -> pa.Array:
    if value.dtype.kind == "f":
        return pa.array(value.astype(np.float64, copy=False))
    if value.dtype.kind in "iu":
        return pa.array(value.astype(np.int64, copy=False))
    return pa.array(value.tolist())
