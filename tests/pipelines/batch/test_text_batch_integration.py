"""The text classifier in `batch`, configured as configs/text-classifier.yaml maps it: texts in
JSONL, CSV (commas, quotes and line breaks inside a field, an empty text) and Parquet give the
probabilities of offline ONNX Runtime fed the same texts here; a number in the text field of
a JSONL line is dead-lettered with its reason."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import orjson
import pytest
import yaml

from streaminfer.pipelines.batch.job import batch
from tests.pipelines.batch.conftest import (
    dead_letters_in,
    predictions_in,
    with_batch,
    write_parquet,
)

pytestmark = pytest.mark.integration

REPO = Path(__file__).parents[3]
ODD = ["", 'a "quoted" refund, please', "line one\nline two: my parcel", "500", "  "]


def _config_model() -> dict[str, Any]:
    model: dict[str, Any] = yaml.safe_load(
        (REPO / "configs" / "text-classifier.yaml").read_text())["model"]
    return {key: model[key] for key in ("inputs", "outputs", "postprocess")}


def test_texts_in_jsonl_csv_and_parquet_score_as_offline_onnx_runtime(
    ray_session, pipeline_spec_factory, model_factory, dataset_factory, tmp_path: Path
) -> None:
    config = _config_model()
    field = config["inputs"]["text"]
    spec = with_batch(pipeline_spec_factory(model="text_classifier", partitions=1,
                                            source={"features": None}, model_options=config),
                      unit_rows=40)
    texts = [str(t) for t in dataset_factory("text_classifier").X[:90, 0]] + ODD
    rows = [{"id": f"r{i}", field: text} for i, text in enumerate(texts)]
    session = ort.InferenceSession(str(model_factory("text_classifier")),
                                   providers=["CPUExecutionProvider"])
    _, expected = session.run(["label", "probabilities"],
                              {"text": np.array([[t] for t in texts], dtype=object)})

    jsonl = tmp_path / "in" / "rows.jsonl"
    jsonl.parent.mkdir()
    bad = {"id": "bad-number", field: 42}
    jsonl.write_bytes(b"\n".join(orjson.dumps(r) for r in [*rows, bad]) + b"\n")
    table = tmp_path / "in" / "rows.csv"
    with table.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", field])
        writer.writeheader()
        writer.writerows(rows)
    parquet = write_parquet(tmp_path / "in" / "rows.parquet", rows)

    for source, dead in ((jsonl, 1), (table, 0), (parquet, 0)):
        out = tmp_path / source.suffix[1:]
        result = batch(spec, str(source), str(out))
        assert (result.predictions, result.dead_letters) == (len(rows), dead), source
        got = {p["id"]: p for p in predictions_in(out)}
        for row, probabilities in zip(rows, expected.tolist(), strict=True):
            assert got[row["id"]]["probabilities"] == pytest.approx(probabilities, abs=1e-6), \
                (source.suffix, row)
            assert got[row["id"]]["team"] == \
                config["postprocess"]["classes"][int(np.argmax(probabilities))]
    [letter] = dead_letters_in(tmp_path / "jsonl")
    assert (letter["headers"]["error.type"], letter["headers"]["error.field"]) == (
        "wrong_input_type", field)
