"""Online and batch give identical predictions for the same events: the online pipeline over
a topic, batch over the same topic range, and batch over the same rows in a Parquet file."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from streaminfer.pipelines.batch.job import batch
from tests.pipelines.batch.conftest import (
    dataset_rows,
    dead_letters_in,
    predictions_in,
    stable,
    with_batch,
    write_parquet,
)

pytestmark = pytest.mark.integration

COUNT = 900
BAD = [b"not json", b'{"id": "bad-missing"}', b"[1, 2]", b'{"id": "bad-text", "mean_radius": "x"}']


def test_online_topic_batch_and_parquet_batch_agree_per_event(
    pipeline_factory, dataset_factory, make_events, produce, read_topic, tmp_path: Path
) -> None:
    run = pipeline_factory(model="breast_cancer", partitions=3)
    dataset = dataset_factory("breast_cancer")
    keys, values = make_events(dataset, COUNT)
    produce(run.source_topic, values, keys)
    produce(run.source_topic, BAD, partition=0)

    online = {p["id"]: p for p in
              (orjson.loads(r.value) for r in read_topic(run.predictions_topic, COUNT))}
    dead = read_topic(run.dead_letter_topic, len(BAD))
    assert len(online) == COUNT and len(dead) == len(BAD)

    spec = with_batch(run.spec, unit_rows=200)
    from_topic = batch(spec, f"kafka:{run.source_topic}", str(tmp_path / "topic"))
    assert (from_topic.rows, from_topic.predictions, from_topic.dead_letters) == (
        COUNT + len(BAD), COUNT, len(BAD))
    by_topic = {p["id"]: p for p in predictions_in(tmp_path / "topic")}
    assert by_topic.keys() == online.keys()
    for key, prediction in online.items():
        assert stable(by_topic[key]) == stable(prediction), key  # source included

    online_dead = sorted((_header(r.headers, "error.type"),
                          int(_header(r.headers, "source.offset")), r.value) for r in dead)
    batch_dead = sorted((r["headers"]["error.type"], int(r["headers"]["source.offset"]),
                         r["value"].encode()) for r in dead_letters_in(tmp_path / "topic"))
    assert batch_dead == online_dead

    # Parquet into Parquet takes the column-wise path; into JSONL, the row path: both agree.
    parquet = write_parquet(tmp_path / "rows.parquet", dataset_rows(dataset, COUNT))
    for fmt in ("parquet", "jsonl"):
        from_file = batch(spec, str(parquet), str(tmp_path / fmt), output_format=fmt)
        assert (from_file.rows, from_file.predictions, from_file.dead_letters) == (COUNT, COUNT, 0)
        by_file = {p["id"]: p for p in predictions_in(tmp_path / fmt)}
        assert by_file.keys() == online.keys()
        for key, prediction in online.items():
            assert stable(by_file[key], without_source=True) == stable(
                prediction, without_source=True), (fmt, key)


def _header(headers: list[tuple[str, bytes]], name: str) -> str:
    return dict(headers)[name].decode()
