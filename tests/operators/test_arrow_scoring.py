"""The column-wise path gives what the row path gives: the same predictions (fields, order,
Arrow types) for the rows it takes, and hands back exactly the rows the row path rejects."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pytest

from streaminfer.operators.arrow_scoring import ArrowScorer
from streaminfer.operators.codecs import JsonCodec
from streaminfer.operators.model_runner import OnnxModel
from streaminfer.operators.records import SourceRecord
from streaminfer.pipelines.devtools.example_models import Dataset
from streaminfer.pipelines.runtime.model_backends import LocalModel
from streaminfer.pipelines.runtime.scoring import BatchScorer
from streaminfer.pipelines.spec.schema import SourceSpec

TOPIC = "/data/rows.parquet"
VOLATILE = ("ts", "latency_ms")


def _table(dataset: Dataset, ids: list[Any] | None) -> pa.Table:
    count = 40
    columns: dict[str, Any] = {}
    if ids is not None:
        columns["id"] = ids
    for c, name in enumerate(dataset.features):
        columns[name] = dataset.X[np.arange(count) % len(dataset.X), c].tolist()
    columns[dataset.features[0]][3] = None          # missing
    columns[dataset.features[1]][5] = float("nan")  # not finite
    columns[dataset.features[2]][7] = 1e300         # overflows float32
    columns[dataset.features[3]] = [int(v) for v in columns[dataset.features[3]]]  # ints
    return pa.table(columns)


def _scorers(model: OnnxModel, source: SourceSpec) -> tuple[BatchScorer, ArrowScorer]:
    """The row path's scorer, and the column-wise one over its model and feature extractor
    (as the batch actor builds them)."""
    rows = BatchScorer({model.info.name: LocalModel(model)}, source, JsonCodec())
    columns = ArrowScorer(model, rows.extractors[model.info.name], id_field=source.id_field,
                          event_time_field=source.event_time_field,
                          max_record_bytes=source.max_record_bytes)
    return rows, columns


def _source(dataset: Dataset, **options: Any) -> SourceSpec:
    return SourceSpec(topics=("t",), group_id="g", id_field="id",
                      features=tuple(dataset.features), **options)


def _row_path(scorer: BatchScorer, table: pa.Table) -> tuple[list[dict[str, Any]], list[int]]:
    records = [SourceRecord(TOPIC, 0, 100 + i, 0, None, orjson.dumps(row))
               for i, row in enumerate(table.to_pylist())]
    scored = scorer.score(records)
    rejected = [int(dict(d.headers)["source.offset"]) - 100 for d in scored.dead_letters]
    return [orjson.loads(value) for _, value in scored.predictions], sorted(rejected)


@pytest.mark.parametrize("ids", ["strings", "ints", "none"])
def test_columns_and_rows_agree(
    ids: str, model_factory: Callable[[str], Path], dataset_factory: Callable[[str], Dataset]
) -> None:
    dataset = dataset_factory("breast_cancer")
    model = OnnxModel.load(model_factory("breast_cancer"))
    id_values = {"strings": [f"e{i}" for i in range(40)], "ints": list(range(40)),
                 "none": None}[ids]
    table = _table(dataset, id_values)
    rows, fast = _scorers(model, _source(dataset))
    assert fast.usable(table.schema)

    scored, rest = fast.score(table, topic=TOPIC, first_offset=100, stamp_ms=0, now_ms=5)
    by_rows, rejected = _row_path(rows, table)

    assert rest.tolist() == rejected == [3, 5, 7]
    assert scored is not None
    assert scored.schema == pa.Table.from_pylist(by_rows).schema
    columns = [{k: v for k, v in p.items() if k not in VOLATILE} for p in scored.to_pylist()]
    rows = [{k: v for k, v in p.items() if k not in VOLATILE} for p in by_rows]
    assert columns == rows
    assert [list(p) for p in scored.to_pylist()] == [list(p) for p in by_rows]  # field order


def test_tables_it_cannot_vouch_for_are_left_to_the_row_path(
    model_factory: Callable[[str], Path], dataset_factory: Callable[[str], Dataset]
) -> None:
    dataset = dataset_factory("breast_cancer")
    model = OnnxModel.load(model_factory("breast_cancer"))
    table = _table(dataset, [f"e{i}" for i in range(40)])
    _, fast = _scorers(model, _source(dataset, max_record_bytes=1_048_576))
    assert not fast.usable(table.append_column("note", pa.array(["x"] * 40)).schema)
    assert not fast.usable(table.drop_columns([dataset.features[0]]).schema)
    where = table.schema.get_field_index(dataset.features[0])
    flags = table.set_column(where, dataset.features[0], pa.array([True] * 40))
    assert not fast.usable(flags.schema)
    _, small = _scorers(model, _source(dataset, max_record_bytes=100))
    assert not small.usable(table.schema)
    _, timed = _scorers(model, _source(dataset, event_time_field="at"))
    with_gaps = table.append_column("at", pa.array([None, *range(1, 40)], pa.int64()))
    scored, rest = timed.score(with_gaps, topic=TOPIC, first_offset=0, stamp_ms=0, now_ms=1)
    assert scored is None and len(rest) == 40  # the row path leaves event_time out of one


def test_an_event_time_column_is_copied_as_the_row_path_copies_it(
    model_factory: Callable[[str], Path], dataset_factory: Callable[[str], Dataset]
) -> None:
    dataset = dataset_factory("breast_cancer")
    model = OnnxModel.load(model_factory("breast_cancer"))
    table = _table(dataset, [f"e{i}" for i in range(40)])
    table = table.append_column("at", pa.array(range(1_700_000_000_000, 1_700_000_000_040)))
    rows, fast = _scorers(model, _source(dataset, event_time_field="at"))
    assert fast.usable(table.schema)
    scored, rest = fast.score(table, topic=TOPIC, first_offset=100, stamp_ms=0, now_ms=5)
    by_rows, rejected = _row_path(rows, table)
    assert scored is not None and rest.tolist() == rejected
    assert scored.schema == pa.Table.from_pylist(by_rows).schema
    assert [{k: v for k, v in p.items() if k not in VOLATILE} for p in scored.to_pylist()] == [
        {k: v for k, v in p.items() if k not in VOLATILE} for p in by_rows]
