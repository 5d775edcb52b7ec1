"""A model that takes token ids (the text_tokens example: input_ids and attention_mask),
fed by model.tokenizer as configs/text-tokens.yaml configures it: online on the real broker
and Ray, on Ray Serve replicas, its predictions equal to offline ONNX Runtime fed ids the
tokenizers library gives here; bad texts dead-lettered with their reasons; a long text cut
and counted on /metrics; HTTP /score taking texts; `batch` over the same texts in JSONL and
Parquet giving the online predictions. (Token feeds scored in the worker's own session:
tests/pipelines/runtime/test_scoring_tokens.py, and the batch actors here.)"""

from __future__ import annotations

import urllib.request
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from streaminfer.operators.metric_names import TEXTS_TRUNCATED
from streaminfer.pipelines.batch.job import batch
from streaminfer.pipelines.devtools.example_tokens import support_tickets, tokenizer_path
from streaminfer.waiting import wait_until
from tests.pipelines.batch.conftest import predictions_in, stable, with_batch, write_parquet
from tests.pipelines.runtime.test_scoring_tokens import offline

pytestmark = pytest.mark.integration

REPO = Path(__file__).parents[3]
COUNT = 240
LONG = "the courier left my parcel at the wrong address " * 400  # ~20 kB: cut at 64 tokens


def _config_model(model_path: Path) -> dict[str, Any]:
    model: dict[str, Any] = yaml.safe_load(
        (REPO / "configs" / "text-tokens.yaml").read_text())["model"]
    tokenizer = {**model["tokenizer"], "path": str(tokenizer_path(model_path))}
    return {"tokenizer": tokenizer, "outputs": model["outputs"],
            "postprocess": model["postprocess"]}


def _rows() -> list[dict[str, Any]]:
    texts, _ = support_tickets(COUNT, seed=77)  # not the training tickets
    texts[5] = LONG
    texts[6] = "Ünïcödé wörds the app crashes 🙂"  # unknown words: [UNK], still scored
    return [{"id": f"t{i}", "text": text} for i, text in enumerate(texts)]


BAD = {"bad-empty": ({"text": ""}, "empty_text"),
       "bad-number": ({"text": 3}, "wrong_input_type"),
       "bad-missing": ({}, "missing_feature"),
       "bad-list": ({"text": ["late"]}, "wrong_input_type")}


def _bad() -> list[bytes]:
    events = [orjson.dumps({"id": key, **event}) for key, (event, _) in BAD.items()]
    return [*events, b'{"id": "bad-surrogate", "text": "my \\udc80 parcel"}']


def _expected(model_path: Path, rows: list[dict[str, Any]]) -> dict[str, list[float]]:
    probabilities = offline(model_path, [r["text"] for r in rows], 64)
    return {r["id"]: p.tolist() for r, p in zip(rows, probabilities, strict=True)}


def _scores(prediction: dict[str, Any]) -> list[float]:
    return [*prediction["probabilities"], *(k["score"] for k in prediction["top_k"])]


def _labels(prediction: dict[str, Any]) -> dict[str, Any]:
    """The prediction without its scores."""
    return {**{k: v for k, v in prediction.items() if k != "probabilities"},
            "top_k": [k["label"] for k in prediction["top_k"]]}


def _truncated(url: str) -> float:
    with urllib.request.urlopen(url, timeout=10) as answer:
        text = answer.read().decode()
    return sum(s.value for family in text_string_to_metric_families(text)
               if family.name == TEXTS_TRUNCATED for s in family.samples
               if s.name.endswith("_total"))


def test_texts_on_serve_replicas_over_http_and_in_batch_as_offline_onnx_runtime(
    pipeline_factory, model_factory, produce, read_topic, http_port, tmp_path: Path,
) -> None:
    """Feeds padded per micro-batch travel to Ray Serve replicas (their merge, padded to
    the widest: tests/pipelines/runtime/test_serving_tokens.py); HTTP /score takes texts."""
    model_path = model_factory("text_tokens")
    run = pipeline_factory(
        model=model_path, partitions=2, source={"features": None},
        model_options={**_config_model(model_path), "serving": "serve",
                       "serve": {"max_batch_size": 8, "batch_wait_timeout_s": 0.05}},
        batching={"max_size": 7, "max_wait_ms": 5}, http={"enabled": True, "port": http_port})
    rows = _rows()
    produce(run.source_topic, [orjson.dumps(r) for r in rows] + _bad())

    online = {p["id"]: p for p in
              (orjson.loads(r.value) for r in read_topic(run.predictions_topic, COUNT))}
    assert online.keys() == {r["id"] for r in rows}
    classes = _config_model(model_path)["postprocess"]["classes"]
    for key, probabilities in _expected(model_path, rows).items():
        assert online[key]["probabilities"] == pytest.approx(probabilities, abs=1e-6), key
        assert online[key]["queue"] == classes[probabilities.index(max(probabilities))]
        assert len(online[key]["top_k"]) == 2
    dead = {orjson.loads(r.value.replace(b"\\udc80", b"")).get("id"):
            dict(r.headers)["error.type"].decode()
            for r in read_topic(run.dead_letter_topic, len(BAD) + 1)}
    assert dead == {**{key: reason for key, (_, reason) in BAD.items()},
                    "bad-surrogate": "invalid_text"}
    url = run.pipeline.metrics_url
    assert url is not None
    assert wait_until(lambda: _truncated(url) == 1, 15), _truncated(url)

    score = f"http://127.0.0.1:{http_port}/score"
    answer = httpx.post(score, json={"id": "h1", "text": rows[3]["text"]}, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json()["probabilities"] == pytest.approx(
        online[rows[3]["id"]]["probabilities"], abs=1e-6)
    refused = httpx.post(score, json={"id": "h2", "text": "  "}, timeout=30)
    assert 400 <= refused.status_code < 500, refused.text
    [error] = refused.json()["errors"]
    assert (error["type"], error["field"]) == ("empty_text", "text")
    assert run.pipeline.stop().truncated_texts == 1

    spec = with_batch(run.spec, unit_rows=100)
    jsonl = tmp_path / "rows.jsonl"
    jsonl.write_bytes(b"\n".join([orjson.dumps(r) for r in rows] + _bad()) + b"\n")
    parquet = write_parquet(tmp_path / "rows.parquet", rows)
    for source, dead_count in ((jsonl, len(BAD) + 1), (parquet, 0)):
        result = batch(spec, str(source), str(tmp_path / source.suffix[1:]))
        assert (result.predictions, result.dead_letters) == (COUNT, dead_count), source
        by_file = {p["id"]: p for p in predictions_in(tmp_path / source.suffix[1:])}
        assert by_file.keys() == online.keys()
        for key, prediction in online.items():
            # Padded per micro-batch: another batch, another width, the same values up to
            # float rounding (ReduceSum over more zeros), so scores agree to 1e-6.
            got, want = (stable(p, without_source=True) for p in (by_file[key], prediction))
            assert _scores(got) == pytest.approx(_scores(want), abs=1e-6), (source, key)
            assert _labels(got) == _labels(want), (source.suffix, key)
