"""Batch's column-wise path for a model fed by model.inputs (the fraud_mixed example: strings
and numbers) gives what the row path gives: on a table with bad rows, the same predictions
for the rows it takes and the rows it hands back are exactly those the row path refuses
(with their reasons) or that it leaves to it; a table whose column types do not fit takes
the row path whole."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pytest
import yaml

from streaminfer.operators.codecs import JsonCodec
from streaminfer.operators.dead_letter import DeadLetter
from streaminfer.operators.inputs import FeedBuilder
from streaminfer.operators.model_runner import OnnxModel
from streaminfer.pipelines.batch.rows import table_records
from streaminfer.pipelines.batch.typed_columns import TypedColumns
from streaminfer.pipelines.runtime.model_backends import LocalModel
from streaminfer.pipelines.runtime.scoring import BatchScorer
from streaminfer.pipelines.spec.schema import ModelSpec, SourceSpec

REPO = Path(__file__).parents[3]
TOPIC = "/data/rows.parquet"
FIRST = 500  # the file index of the table's first row
VOLATILE = ("ts", "latency_ms")
COUNT = 60


@pytest.fixture(scope="module")
def model(model_factory: Callable[[str], Path]) -> OnnxModel:
    """fraud_mixed as configs/fraud-mixed.yaml maps, names and post-processes it."""
    section = yaml.safe_load((REPO / "configs" / "fraud-mixed.yaml").read_text())["model"]
    spec = ModelSpec.model_validate({**section, "path": str(model_factory("fraud_mixed"))})
    return OnnxModel(Path(spec.path).read_bytes(), name="mixed", version="v1",
                     outputs=spec.outputs, inputs=spec.input_bindings(),
                     postprocess=spec.postprocess.operator() if spec.postprocess else None)


def _table(dataset: Any) -> pa.Table:
    rows = [{"id": f"r{i}", "event_time": 1_000 + i,
             **dict(zip(dataset.features, dataset.X[i].tolist(), strict=True))}
            for i in range(COUNT)]
    for row in rows:
        row["hour"] = int(row["hour"])  # an int column into a float input
    rows[1]["country"] = "ZZ"  # unknown to the encoder: scored
    rows[2]["country"] = "Zürich"  # not ASCII: scored
    rows[3]["country"] = None  # missing: refused
    rows[4]["channel"] = None  # the config's default (online): the row path fills it
    rows[5]["amount"] = float("nan")  # null in the row's JSON: refused, missing
    rows[6]["amount"] = 1e300  # not finite as float32: refused
    rows[7]["category"] = "x" * 3_000  # over max_record_bytes: refused
    rows[8]["id"] = None  # no id: its origin
    rows[9]["event_time"] = None  # no event time: the prediction has none
    return pa.table({k: [r[k] for r in rows] for k in rows[0]})


def _scorer(model: OnnxModel) -> BatchScorer:
    source = SourceSpec(topics=("t",), group_id="g", id_field="id",
                        event_time_field="event_time", max_record_bytes=2_048)
    return BatchScorer({"mixed": LocalModel(model)}, source, JsonCodec())


def _row_path(scorer: BatchScorer, table: pa.Table, positions: np.ndarray
              ) -> tuple[list[dict[str, Any]], list[DeadLetter]]:
    scored = scorer.score(table_records(table.take(positions), TOPIC, FIRST + positions, 7))
    return _decoded(scored.predictions), scored.dead_letters


def _decoded(predictions: list[tuple[bytes | None, bytes]]) -> list[dict[str, Any]]:
    out = [{k: v for k, v in orjson.loads(value).items() if k not in VOLATILE}
           for _, value in predictions]
    return sorted(out, key=lambda p: p["source"]["offset"])


def test_the_column_path_gives_the_row_paths_predictions_and_hands_back_the_rest(
    model: OnnxModel, dataset_factory: Callable[[str], Any]
) -> None:
    table = _table(dataset_factory("fraud_mixed"))
    scorer = _scorer(model)
    builder = scorer.extractors["mixed"]
    assert isinstance(builder, FeedBuilder) and TypedColumns.fits(builder)
    columns = TypedColumns(scorer, builder)
    assert columns.usable(table.schema)

    scored, rest = columns.score(table, topic=TOPIC, first_offset=FIRST, stamp_ms=7)
    assert scored is not None and not scored.dead_letters
    assert rest.tolist() == [3, 4, 5, 6, 7, 9]  # bad, defaulted, too big, no event time
    rest_predictions, rest_refused = _row_path(scorer, table, rest)
    both = _decoded(scored.predictions) + rest_predictions

    everything, refused = _row_path(scorer, table, np.arange(COUNT))
    assert sorted(both, key=lambda p: p["source"]["offset"]) == everything
    assert rest_refused == refused  # the raw row, its reason and origin in the headers
    assert [(int(dict(d.headers)["source.offset"]) - FIRST, d.error_type)
            for d in refused] == [(3, "missing_feature"), (5, "missing_feature"),
                                  (7, "oversized_record"), (6, "non_finite_feature")]
    by_offset = {p["source"]["offset"] - FIRST: p for p in everything}
    assert by_offset[8]["id"] == f"{TOPIC}/0/{FIRST + 8}" and "event_time" not in by_offset[9]
    assert by_offset[0]["event_time"] == 1_000 and by_offset[0]["is_fraud"] in ("legit", "fraud")


@pytest.mark.parametrize("column,values", [
    ("country", list(range(COUNT))),  # a number where the model takes a string
    ("amount", [True] * COUNT),  # a bool where it takes a float
    ("extra", [[1, 2]] * COUNT),  # a column of lists: its JSON is not known here
])
def test_a_table_whose_column_types_do_not_fit_takes_the_row_path(
    model: OnnxModel, dataset_factory: Callable[[str], Any], column: str, values: list[Any]
) -> None:
    table = _table(dataset_factory("fraud_mixed"))
    table = table.drop_columns([column]) if column in table.column_names else table
    table = table.append_column(column, pa.array(values))
    scorer = _scorer(model)
    builder = scorer.extractors["mixed"]
    assert isinstance(builder, FeedBuilder)
    assert not TypedColumns(scorer, builder).usable(table.schema)
