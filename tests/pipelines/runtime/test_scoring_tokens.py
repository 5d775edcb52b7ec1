"""BatchScorer over the token-id example (configs/text-tokens.yaml's model section): texts
scored as ONNX Runtime scores ids tokenized here by the tokenizers library; each bad text
dead-lettered with its reason and field, the rest of the micro-batch scored; cut texts
counted."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import orjson
import pytest
import yaml
from tokenizers import Tokenizer

from streaminfer.operators.codecs import JsonCodec
from streaminfer.operators.model_runner import read_model_file
from streaminfer.operators.records import SourceRecord
from streaminfer.pipelines.devtools.example_tokens import tokenizer_path
from streaminfer.pipelines.runtime.assembly import load_model
from streaminfer.pipelines.runtime.model_backends import LocalModel
from streaminfer.pipelines.runtime.scoring import BatchScorer
from streaminfer.pipelines.spec.model_spec import ModelSpec
from streaminfer.pipelines.spec.schema import SourceSpec

REPO = Path(__file__).parents[3]
SOURCE = SourceSpec.model_validate({"topics": ["t"], "group_id": "g", "id_field": "id"})


def config_model(model_path: Path, **changes: Any) -> ModelSpec:
    """configs/text-tokens.yaml's model section, on the model built for the tests."""
    model = yaml.safe_load((REPO / "configs" / "text-tokens.yaml").read_text())["model"]
    model["path"] = str(model_path)
    model["tokenizer"] = {**model["tokenizer"], "path": str(tokenizer_path(model_path)),
                          **changes}
    return ModelSpec.model_validate(model)


@pytest.fixture(scope="module")
def scorer(model_factory: Callable[[str], Path]) -> BatchScorer:
    spec = config_model(model_factory("text_tokens"))
    model = load_model(spec, read_model_file(spec.path))
    return BatchScorer({"text-tokens": LocalModel(model)}, SOURCE, JsonCodec())


def offline(model_path: Path, texts: list[str], max_length: int) -> np.ndarray:
    """Probabilities of ONNX Runtime fed ids the tokenizers library gives (truncated,
    padded to the longest), not streaminfer's tokenization."""
    tok = Tokenizer.from_file(str(tokenizer_path(model_path)))
    tok.enable_truncation(max_length)
    tok.enable_padding()
    encodings = tok.encode_batch(texts)
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    feed = {"input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64)}
    [probabilities] = session.run(["probabilities"], feed)
    return np.asarray(probabilities)


def records(values: list[bytes]) -> list[SourceRecord]:
    return [SourceRecord("t", 0, i, 1, None, v) for i, v in enumerate(values)]


def test_bad_texts_are_dead_lettered_and_the_rest_scored_as_offline(
    scorer: BatchScorer, model_factory: Callable[[str], Path],
) -> None:
    good = ["my parcel never arrived", "I was charged twice for my laptop",
            "the app crashes when i log in " * 40, "zzz qqq"]  # long: cut at 64; unknown words
    events = [orjson.dumps({"id": f"g{i}", "text": t}) for i, t in enumerate(good)]
    bad = [orjson.dumps({"id": "empty", "text": ""}),
           orjson.dumps({"id": "spaces", "text": "   "}),
           orjson.dumps({"id": "number", "text": 12}),
           orjson.dumps({"id": "nested", "text": {"body": "late"}}),
           orjson.dumps({"id": "null", "text": None}),
           b'{"id": "surrogate", "text": "late \\ud800 parcel"}',  # valid JSON, not UTF-8 text
           b'{"id": "bytes", "text": "late \xff parcel"}']  # not UTF-8 at all
    values = [events[0], *bad[:4], events[1], events[2], *bad[4:], events[3]]
    scored = scorer.score(records(values))
    predictions = [orjson.loads(v) for _, v in scored.predictions]
    assert [p["id"] for p in predictions] == ["g0", "g1", "g2", "g3"]
    expected = offline(model_factory("text_tokens"), good, 64)
    classes = ["billing", "delivery", "technical"]
    for p, probabilities in zip(predictions, expected, strict=True):
        assert p["probabilities"] == pytest.approx(probabilities.tolist(), abs=1e-6)
        assert p["queue"] == classes[int(np.argmax(probabilities))]
        assert [k["label"] for k in p["top_k"]] == [classes[i] for i in
                                                   np.argsort(-probabilities)[:2]]
    assert [p["queue"] for p in predictions[:3]] == ["delivery", "billing", "technical"]
    names = ["empty", "spaces", "number", "nested", "null", "surrogate", "bytes"]
    dead = {names[bad.index(d.value)]: (d.error_type,  # the original bytes, unchanged
                                        dict(d.headers).get("error.field", b"").decode())
            for d in scored.dead_letters}
    assert dead == {"empty": ("empty_text", "text"), "spaces": ("empty_text", "text"),
                    "number": ("wrong_input_type", "text"),
                    "nested": ("wrong_input_type", "text"),
                    "null": ("missing_feature", "text"), "surrogate": ("invalid_text", "text"),
                    "bytes": ("invalid_json", "")}
    assert scored.truncated_texts == 1


def test_a_1mb_text_in_a_batch_is_cut_counted_and_scored_fast(
    model_factory: Callable[[str], Path],
) -> None:
    spec = config_model(model_factory("text_tokens"))
    model = load_model(spec, read_model_file(spec.path))
    big = SourceSpec.model_validate({"topics": ["t"], "group_id": "g", "id_field": "id",
                                     "max_record_bytes": 2_000_000})
    scorer = BatchScorer({"text-tokens": LocalModel(model)}, big, JsonCodec())
    huge = ("where is my parcel, the courier lost it. " * 25_000)[:1_000_000]
    texts = [huge, "refund please"]
    scored = scorer.score(records([orjson.dumps({"id": i, "text": t})
                                   for i, t in enumerate(texts)]))
    assert scored.truncated_texts == 1 and not scored.dead_letters
    expected = offline(model_factory("text_tokens"), texts, 64)
    for (_, value), probabilities in zip(scored.predictions, expected, strict=True):
        assert orjson.loads(value)["probabilities"] == pytest.approx(probabilities.tolist(),
                                                                     abs=1e-6)
