"""Batch over files of each format and a glob, exact topic ranges, a topic output; malformed
rows to dead letters with their reasons. Real Ray Data actors, real broker, real models."""

from __future__ import annotations

from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.csv as pcsv
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from streaminfer.errors import BrokerError, ConfigError, DataError
from streaminfer.pipelines.batch.job import batch
from tests.pipelines.batch.conftest import (
    dataset_rows,
    dead_letters_in,
    predictions_in,
    write_parquet,
)

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("runner", ["ray", "process"])
def test_parquet_csv_and_jsonl_through_a_glob_with_dead_letters(
    ray_session, batch_spec, dataset_factory, tmp_path: Path, runner: str
) -> None:
    # On a pool of 2 Ray Data actors, and in this process (batch.runner: process)
    spec = batch_spec(unit_rows=250, runner=runner, actors=2 if runner == "ray" else 1)
    dataset = dataset_factory("breast_cancer")
    write_parquet(tmp_path / "in" / "a.parquet", dataset_rows(dataset, 300))  # 2 units
    csv_rows = dataset_rows(dataset, 300, start=300)
    csv_rows[5]["mean_radius"] = None  # an empty CSV cell: null
    pcsv.write_csv(pa.Table.from_pylist(csv_rows), tmp_path / "in" / "b.csv")
    with open(tmp_path / "in" / "b.csv", "a") as handle:
        handle.write("e-extra,1,2\n")  # too few columns: line 302
    text = (tmp_path / "in" / "b.csv").read_text().splitlines()
    texture = text[0].split(",").index('"mean_texture"')
    cells = text[10].split(",")  # row e309: one cell is text, the rest of the column not
    cells[texture] = "0.13x"
    text[10] = ",".join(cells)
    (tmp_path / "in" / "b.csv").write_text("\n".join(text) + "\n")
    lines = [orjson.dumps(row) for row in dataset_rows(dataset, 300, start=600)]
    lines[7:7] = [b"{oops", b"[1, 2]"]
    (tmp_path / "in" / "c.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    (tmp_path / "in" / "notes.txt").write_text("not matched by the glob")

    summary = batch(spec, str(tmp_path / "in" / "?.*"), str(tmp_path / "out"),
                    output_format="jsonl")

    assert (summary.rows, summary.predictions, summary.dead_letters) == (903, 898, 5)
    assert summary.units == 4 and summary.complete
    ids = [p["id"] for p in predictions_in(tmp_path / "out")]
    assert sorted(ids) == sorted(f"e{i}" for i in range(900) if i not in (305, 309))
    reasons = sorted((r["headers"]["error.type"], r["headers"]["source.topic"].rsplit("/", 1)[1],
                      r["headers"].get("error.field"))
                     for r in dead_letters_in(tmp_path / "out"))
    assert reasons == [("invalid_csv_row", "b.csv", None), ("invalid_json", "c.jsonl", None),
                       ("non_numeric_feature", "b.csv", "mean_radius"),
                       ("non_numeric_feature", "b.csv", "mean_texture"),
                       ("not_an_object", "c.jsonl", None)]
    kept = {(r["headers"]["error.type"], r["headers"].get("error.field")): r
            for r in dead_letters_in(tmp_path / "out")}
    assert kept["invalid_json", None]["value"] == "{oops"
    assert orjson.loads(kept["non_numeric_feature", "mean_radius"]["value"])["id"] == "e305"
    texture_letter = kept["non_numeric_feature", "mean_texture"]
    assert orjson.loads(texture_letter["value"])["id"] == "e309"
    assert texture_letter["headers"]["source.offset"] == "11"
    assert kept["invalid_csv_row", None]["headers"]["source.offset"] == "302"


def test_topic_ranges_by_offsets_and_by_latest_are_exact(
    ray_session, batch_spec, dataset_factory, make_events, produce, kafka_config, tmp_path: Path
) -> None:
    spec = batch_spec(partitions=2, unit_rows=40)
    topic = spec.source.topics[0]
    dataset = dataset_factory("breast_cancer")
    keys, values = make_events(dataset, 200)
    produce(topic, values[:120], keys[:120], partition=0)  # offset i: e<i>
    one_batch = KafkaProducer(**kafka_config, linger_ms=10_000, batch_size=1 << 20)
    for key, value in zip(keys[120:], values[120:], strict=True):  # offset j: e<120 + j>
        one_batch.send(topic, key=key, value=value, partition=1)
    one_batch.flush()  # the 80 records leave as one record batch
    one_batch.close()

    ranged = batch(spec, f"kafka:{topic}?start=0:10,1:5&end=0:100", str(tmp_path / "range"))
    ids = sorted(p["id"] for p in predictions_in(tmp_path / "range"))
    assert ids == sorted([f"e{i}" for i in range(10, 100)] + [f"e{120 + j}" for j in range(5, 80)])
    assert ranged.rows == len(ids) == 165

    everything = batch(spec, f"kafka:{topic}?end=latest", str(tmp_path / "all"))
    assert everything.rows == everything.predictions == 200
    assert sorted(p["id"] for p in predictions_in(tmp_path / "all")) == sorted(
        f"e{i}" for i in range(200))
    consumer = KafkaConsumer(**kafka_config)
    try:  # the embedded broker's end_offsets() ends at the last batch's first record
        assert consumer.end_offsets([TopicPartition(topic, 1)])[TopicPartition(topic, 1)] == 1
    finally:
        consumer.close()


def test_a_topic_output_takes_predictions_and_dead_letters_go_to_the_dead_letter_topic(
    ray_session, batch_spec, dataset_factory, read_topic, tmp_path: Path
) -> None:
    spec = batch_spec(unit_rows=100)
    rows = dataset_rows(dataset_factory("breast_cancer"), 250)
    rows[17]["mean_texture"] = None
    parquet = write_parquet(tmp_path / "rows.parquet", rows, row_group_size=50)
    out = spec.sink.predictions_topic

    summary = batch(spec, str(parquet), f"kafka:{out}", manifest=tmp_path / "m.json")

    assert (summary.rows, summary.predictions, summary.dead_letters) == (250, 249, 1)
    predictions = [orjson.loads(r.value) for r in read_topic(out, 249)]
    assert sorted(p["id"] for p in predictions) == sorted(
        f"e{i}" for i in range(250) if i != 17)
    (dead,) = read_topic(spec.sink.dead_letter_topic, 1)
    headers = {k: v.decode() for k, v in dead.headers}
    assert headers["error.type"] == "non_numeric_feature"
    assert headers["error.field"] == "mean_texture"
    assert orjson.loads(dead.value)["id"] == "e17"
    again = batch(spec, str(parquet), f"kafka:{out}", manifest=tmp_path / "m.json")
    assert again.units_skipped == again.units and again.rows_this_run == 0


def test_clear_errors_before_any_work(batch_spec, dataset_factory, tmp_path: Path) -> None:
    spec = batch_spec()
    with pytest.raises(DataError, match="does not exist"):
        batch(spec, str(tmp_path / "missing.parquet"), str(tmp_path / "out"))
    with pytest.raises(BrokerError, match="lacks ListOffsets by timestamp"):
        batch(spec, f"kafka:{spec.source.topics[0]}?start=time:2024-01-01T00:00:00Z",
              str(tmp_path / "out"))
    with pytest.raises(ConfigError, match="unknown parameter"):
        batch(spec, f"kafka:{spec.source.topics[0]}?from=0", str(tmp_path / "out"))
    first = write_parquet(tmp_path / "a.parquet", dataset_rows(dataset_factory("breast_cancer"), 5))
    write_parquet(tmp_path / "b.parquet", dataset_rows(dataset_factory("breast_cancer"), 5))
    from streaminfer.pipelines.batch.job import BatchJob

    BatchJob(spec, str(first), str(tmp_path / "out")).manifest()  # plans, writes the manifest
    with pytest.raises(ConfigError, match="already holds another job"):
        batch(spec, str(tmp_path / "b.parquet"), str(tmp_path / "out"))


def test_a_unit_that_fails_in_an_actor_is_one_error_and_the_rest_resumes(
    ray_session, batch_spec, dataset_factory, tmp_path: Path
) -> None:
    from streaminfer.pipelines.batch.job import BatchJob

    spec = batch_spec(actors=1)
    rows = dataset_rows(dataset_factory("breast_cancer"), 100)
    write_parquet(tmp_path / "in" / "a.parquet", rows)
    gone = write_parquet(tmp_path / "in" / "b.parquet", rows)
    BatchJob(spec, str(tmp_path / "in"), str(tmp_path / "out")).manifest()  # planned
    gone.unlink()  # vanishes between planning and reading

    with pytest.raises(DataError, match=r"b\.parquet: cannot read it as parquet"):
        batch(spec, str(tmp_path / "in"), str(tmp_path / "out"))
    write_parquet(gone, rows)
    summary = batch(spec, str(tmp_path / "in"), str(tmp_path / "out"))
    assert summary.complete and summary.rows == 200
