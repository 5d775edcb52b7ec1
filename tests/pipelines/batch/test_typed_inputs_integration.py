"""A model with string and number inputs (the fraud_mixed example: skl2onnx ColumnTransformer,
one input per column) fed through model.inputs as configs/fraud-mixed.yaml maps them: online
on the real broker, on Ray Serve replicas (which merge the micro-batches of their requests
input by input), its predictions equal to offline ONNX Runtime fed by arrays built here; a
value of the wrong type dead-lettered with its reason; HTTP /score taking the same events;
and `batch` over the same rows in JSONL and Parquet (string columns) giving the same
predictions as online. (Typed inputs scored colocated online on the real broker:
tests/pipelines/online/test_typed_drift_integration.py, test_text_inputs_integration.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import numpy as np
import onnxruntime as ort
import orjson
import pytest
import yaml

from streaminfer.pipelines.batch.job import batch
from tests.pipelines.batch.conftest import predictions_in, stable, with_batch, write_parquet

pytestmark = pytest.mark.integration

REPO = Path(__file__).parents[3]
COUNT = 300
STRINGS = ("country", "category", "channel")
NUMBERS = ("amount", "hour", "card_age_days")


def _config_model() -> dict[str, Any]:
    model: dict[str, Any] = yaml.safe_load(
        (REPO / "configs" / "fraud-mixed.yaml").read_text())["model"]
    return {key: model[key] for key in ("inputs", "outputs", "postprocess")}


def _rows(dataset: Any) -> list[dict[str, Any]]:
    rows = [{"id": f"m{i}", **dict(zip(dataset.features, dataset.X[i].tolist(), strict=True))}
            for i in range(COUNT)]
    del rows[0]["hour"]  # the config's default: 12
    rows[1]["country"] = "ZZ"  # unknown to the one-hot encoder: ignored, still scored
    rows[2]["hour"] = 7  # an int where the model takes float
    return rows


def _offline(model_path: Path, rows: list[dict[str, Any]]) -> list[tuple[int, list[float]]]:
    """Label and probabilities per row, preprocessing written here: a [n, 1] object array
    per string column, float32 [n, 1] per number (hour 12 where it is missing)."""
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    feed: dict[str, np.ndarray] = {}
    for name in STRINGS:
        feed[name] = np.array([[row[name]] for row in rows], dtype=object)
    for name in NUMBERS:
        feed[name] = np.array([[row.get(name, 12)] for row in rows], dtype=np.float32)
    labels, probabilities = session.run(["label", "probabilities"], feed)
    return list(zip(labels.tolist(), probabilities.tolist(), strict=True))


def test_string_and_number_inputs_on_serve_replicas_over_http_and_in_batch(
    pipeline_factory, model_factory, dataset_factory, produce, read_topic, http_port,
    tmp_path: Path
) -> None:
    run = pipeline_factory(model="fraud_mixed", partitions=2, source={"features": None},
                           model_options={**_config_model(), "serving": "serve"},
                           http={"enabled": True, "port": http_port})
    rows = _rows(dataset_factory("fraud_mixed"))
    post = _config_model()["postprocess"]
    bad = [{**rows[3], "id": "bad-number", "country": 7},
           {**rows[4], "id": "bad-text", "amount": "12.5"},
           {k: v for k, v in rows[5].items() if k != "card_age_days"} | {"id": "bad-missing"},
           {**rows[6], "id": "bad-nested", "channel": {"kind": "web"}},
           {**rows[7], "id": "bad-bool", "amount": True}]
    produce(run.source_topic, [orjson.dumps(r) for r in rows + bad])

    online = {p["id"]: p for p in
              (orjson.loads(r.value) for r in read_topic(run.predictions_topic, COUNT))}
    assert len(online) == COUNT
    expected = _offline(model_factory("fraud_mixed"), rows)
    assert 0 < sum(label for label, _ in expected) < COUNT  # both classes occur
    # The config's postprocess: a class name, by the threshold on P(class 1).
    assert post["threshold"] < 0.5
    moved = 0
    for row, (label, probabilities) in zip(rows, expected, strict=True):
        got = online[row["id"]]
        flagged = probabilities[1] >= post["threshold"]
        moved += flagged != label
        assert got["is_fraud"] == post["classes"][int(flagged)], row["id"]
        assert got["probabilities"] == pytest.approx(probabilities, abs=1e-6), row["id"]

    assert moved > 0  # the threshold decided some rows the model's own label did not
    dead = {orjson.loads(r.value)["id"]: {k: v.decode() for k, v in r.headers}
            for r in read_topic(run.dead_letter_topic, len(bad))}
    assert {k: (h["error.type"], h["error.field"]) for k, h in dead.items()} == {
        "bad-number": ("wrong_input_type", "country"),
        "bad-text": ("wrong_input_type", "amount"),
        "bad-missing": ("missing_feature", "card_age_days"),
        "bad-nested": ("wrong_input_type", "channel"),
        "bad-bool": ("wrong_input_type", "amount"),
    }
    assert dead["bad-number"]["error.message"] == (
        "field 'country' (input 'country') is int 7, not a string; send a string, or set "
        "model.inputs.country.cast: true")

    url = f"http://127.0.0.1:{http_port}/score"
    answer = httpx.post(url, json={**rows[9], "id": "h1"}, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json()["probabilities"] == pytest.approx(
        online[rows[9]["id"]]["probabilities"], abs=1e-6)
    refused = httpx.post(url, json={**rows[9], "id": "h2", "channel": 3}, timeout=30)
    assert 400 <= refused.status_code < 500, refused.text
    [error] = refused.json()["errors"]
    assert (error["type"], error["field"]) == ("wrong_input_type", "channel")

    spec = with_batch(run.spec, unit_rows=100)
    jsonl = tmp_path / "rows.jsonl"
    jsonl.write_bytes(b"\n".join(orjson.dumps(r) for r in rows + bad) + b"\n")
    parquet = write_parquet(tmp_path / "rows.parquet",
                            [{**r, "hour": float(r.get("hour", 12))} for r in rows])
    for source, dead_count in ((jsonl, len(bad)), (parquet, 0)):
        result = batch(spec, str(source), str(tmp_path / source.suffix[1:]))
        assert (result.predictions, result.dead_letters) == (COUNT, dead_count), source
        by_file = {p["id"]: p for p in predictions_in(tmp_path / source.suffix[1:])}
        assert by_file.keys() == online.keys()
        for key, prediction in online.items():
            assert stable(by_file[key], without_source=True) == stable(
                prediction, without_source=True), (source.suffix, key)
