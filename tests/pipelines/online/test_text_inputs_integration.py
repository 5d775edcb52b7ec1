"""A model that takes text (the text_classifier example: skl2onnx TF-IDF + logistic
regression, one string input) fed through model.inputs as configs/text-classifier.yaml maps
it, on the real broker and Ray: predictions equal offline ONNX Runtime fed the texts here; an
empty text and a 1 MB text scored; a number or a bool scored as its digits (or word), the
input saying ``cast: true``; a nested object, a list, a missing or null message, half a
character and bytes that are not UTF-8 dead-lettered with their reasons while the rest of
the micro-batch is scored. (A number refused where the input does not cast, with the fix in
its message: test_typed_inputs_integration.py on the real broker, and
tests/operators/test_inputs.py.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import orjson
import pytest
import yaml

pytestmark = pytest.mark.integration

REPO = Path(__file__).parents[3]
COUNT = 120
ONE_MB = 1_000_000


def _config_model() -> dict[str, Any]:
    model: dict[str, Any] = yaml.safe_load(
        (REPO / "configs" / "text-classifier.yaml").read_text())["model"]
    return {key: model[key] for key in ("inputs", "outputs", "postprocess")}


def _offline(model_path: Path, texts: list[str]) -> list[list[float]]:
    """Probabilities per text, the texts fed straight to ONNX Runtime as [n, 1] strings."""
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    feed = np.array([[text] for text in texts], dtype=object)
    _, probabilities = session.run(["label", "probabilities"], {"text": feed})
    return [list(map(float, p)) for p in probabilities]


def _expect(got: dict[str, Any], probabilities: list[float], classes: list[str],
            top_k: int) -> None:
    assert got["probabilities"] == pytest.approx(probabilities, abs=1e-6)
    order = sorted(range(len(classes)), key=lambda i: -probabilities[i])
    assert got["team"] == classes[order[0]]
    assert [t["label"] for t in got["top_k"]] == [classes[i] for i in order[:top_k]]
    assert [t["score"] for t in got["top_k"]] == pytest.approx(
        [probabilities[i] for i in order[:top_k]], abs=1e-6)


def test_text_and_cast_numbers_are_scored_as_offline_onnx_runtime_and_bad_text_is_dead_lettered(
    pipeline_factory, model_factory, dataset_factory, produce, read_topic, read_all
) -> None:
    config = _config_model()
    field = config["inputs"]["text"]
    config["inputs"] = {"text": {"field": field, "cast": True}}
    post = config["postprocess"]
    run = pipeline_factory(model="text_classifier", partitions=2, source={"features": None},
                           model_options=config)
    texts = [str(t) for t in dataset_factory("text_classifier").X[:COUNT, 0]]
    texts += ["", "refund " * (ONE_MB // 7) + "x" * (ONE_MB % 7)]
    assert len(texts[-1]) == ONE_MB
    rows = [{"id": f"t{i}", field: text} for i, text in enumerate(texts)]
    # cast: a number or a bool is scored as JSON writes it
    rows += [{"id": "n", field: 500}, {"id": "f", field: 2.5}, {"id": "b", field: True}]
    texts += ["500", "2.5", "true"]
    bad = [{"id": "bad-nested", field: {"body": "hi"}},
           {"id": "bad-missing"}, {"id": "bad-null", field: None},
           {"id": "bad-list", field: ["my", "card"]}]
    mixed = rows[:40] + bad + rows[40:]  # the bad ones in the good ones' micro-batches
    undecodable = [  # half a character escaped (Python's json reads it); bytes not UTF-8
        b'{"id": "bad-surrogate", "%s": "refund \\ud800"}' % field.encode(),
        b'{"id": "bad-utf8", "%s": "refund \xff\xfe"}' % field.encode()]
    produce(run.source_topic, [orjson.dumps(r) for r in mixed] + undecodable)

    online = {p["id"]: p for p in
              (orjson.loads(r.value) for r in read_topic(run.predictions_topic, len(rows)))}
    assert online.keys() == {r["id"] for r in rows}
    expected = _offline(model_factory("text_classifier"), texts)
    teams = {online[r["id"]]["team"] for r in rows}
    assert teams == set(post["classes"])  # every class predicted somewhere
    for row, probabilities in zip(rows, expected, strict=True):
        _expect(online[row["id"]], probabilities, post["classes"], post["top_k"])
    # the empty text has no known word: the same scores as any other wordless text
    assert online["t" + str(COUNT)]["probabilities"] == pytest.approx(
        _offline(model_factory("text_classifier"), ["?!"])[0], abs=1e-6)
    assert online["t" + str(COUNT + 1)]["team"] == "billing"  # a megabyte of "refund"

    dead_letters = read_topic(run.dead_letter_topic, len(bad) + len(undecodable))
    [utf8] = [r for r in dead_letters if r.value == undecodable[1]]
    assert dict(utf8.headers)["error.type"] == b"invalid_json"
    dead = {json.loads(r.value)["id"]: {k: v.decode() for k, v in r.headers}
            for r in dead_letters if r is not utf8}
    assert {k: (h["error.type"], h["error.field"]) for k, h in dead.items()} == {
        "bad-nested": ("wrong_input_type", field),
        "bad-missing": ("missing_feature", field),
        "bad-null": ("missing_feature", field),
        "bad-list": ("wrong_input_type", field),
        "bad-surrogate": ("wrong_input_type", field),
    }
    assert dead["bad-nested"]["error.message"].endswith("(nested values are refused)")
    # all of it, and no more: each event either predicted or dead-lettered, once
    assert len(read_all(run.predictions_topic)) == len(rows)
    assert len(read_all(run.dead_letter_topic)) == len(bad) + len(undecodable)
