"""The typed examples' demos (``streaminfer demo --example``: each example's own config as
its demo runs it, on a real broker, Ray and joiner): every event comes back once, the bad
ones dead-lettered with their reasons; the labels that follow show live accuracy; each
prediction is what ONNX Runtime gives for the event, fed by preprocessing written here (the
token model's embedding among them, as a list of floats)."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import orjson
import pytest
import yaml
from rich.console import Console
from tokenizers import Tokenizer

from streaminfer.operators.records import Record
from streaminfer.pipelines.devtools.example_tokens import tokenizer_path
from streaminfer.pipelines.devtools.typed_demo import TypedRun, demo_sections, typed_view
from streaminfer.pipelines.devtools.typed_feeds import TYPED_EXAMPLES
from streaminfer.pipelines.online.live_view import RateMeter
from tests.fixtures.feedback import feedback_section, run_demo_until_joined

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
EVENTS, BAD_EVERY = 240, 30  # 8 bad ones: each of the 4 kinds twice
REASONS = {
    "fraud-mixed": {"invalid_json", "wrong_input_type", "missing_feature"},
    "text": {"invalid_json", "wrong_input_type", "missing_feature"},
    "tokens": {"invalid_json", "empty_text", "wrong_input_type", "missing_feature"},
}


def _offline(name: str, model_path: Path, events: list[dict[str, Any]]) -> dict[str, Any]:
    """ONNX Runtime's outputs for ``events``, each fed as its model takes it, by name."""
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    if name == "tokens":
        tok = Tokenizer.from_file(str(tokenizer_path(model_path)))
        tok.enable_truncation(64)
        tok.enable_padding()
        encodings = tok.encode_batch([e["text"] for e in events])
        feed = {"input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encodings], np.int64)}
    elif name == "text":
        feed = {"text": np.array([[e["message"]] for e in events], dtype=object)}
    else:
        feed = {column: np.array([[e[column]] for e in events], dtype=object)
                for column in ("country", "category", "channel")}
        feed |= {column: np.array([[e[column]] for e in events], dtype=np.float32)
                 for column in ("amount", "hour", "card_age_days")}
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feed), strict=True))


@pytest.mark.parametrize("name", list(TYPED_EXAMPLES))
def test_a_typed_demo_closes_its_books_and_scores_as_onnx_runtime(
    name: str, ray_session: None, pipeline_spec_factory: Callable[..., Any],
    model_factory: Callable[[str], Path], read_all: Callable[[str], list[Record]],
) -> None:
    example = TYPED_EXAMPLES[name]
    demo = demo_sections(yaml.safe_load((REPO / "configs" / example.config).read_text()),
                         example)
    model_path = model_factory(example.model)
    model = {key: value for key, value in demo["model"].items() if key != "path"}
    if "tokenizer" in model:
        model["tokenizer"] = {**model["tokenizer"], "path": str(tokenizer_path(model_path))}
    fb = feedback_section(live=demo["feedback"]["live"])
    source = {key: demo["source"][key] for key in ("id_field", "event_time_field")
              if key in demo["source"]}
    spec = pipeline_spec_factory(model=model_path, partitions=2, model_options=model,
                                 source={"features": None, **source}, feedback=fb,
                                 batching={"max_size": 128, "max_wait_ms": 50})
    console = Console(file=io.StringIO(), width=140)
    run = TypedRun(spec, example, events=EVENTS, rate=600, bad_every=BAD_EVERY,
                   label_delay_s=0.5)
    good = EVENTS - EVENTS // BAD_EVERY
    try:
        run_demo_until_joined(run, console, good)
        console.print(typed_view(run, RateMeter(), name))
        feedback = run.pipeline.feedback()
    finally:
        summary = run.stop()
    assert summary is not None and summary.adds_up, summary
    assert summary.dead_letters == EVENTS // BAD_EVERY
    reasons = {dict(r.headers)["error.type"].decode()
               for r in read_all(spec.sink.dead_letter_topic)}
    assert reasons == REASONS[name]
    assert feedback is not None
    [live] = feedback.live.values()
    assert live["accuracy"] > 0.85, live

    id_field = spec.source.id_field
    events = {e[id_field]: e for e in (orjson.loads(r.value or b"")
                                        for r in read_all(spec.source.topics[0])
                                        if r.key is not None and _is_json(r.value))
              if id_field in e}
    predictions = [orjson.loads(r.value or b"") for r in read_all(spec.sink.predictions_topic)]
    assert len(predictions) == good
    offline = _offline(name, model_path, [events[p["id"]] for p in predictions])
    classes = demo["model"]["postprocess"]["classes"]
    label = next(v for k, v in demo["model"]["outputs"].items() if k == "label")
    for i, p in enumerate(predictions):
        want = offline["probabilities"][i]
        assert p["probabilities"] == pytest.approx(want.tolist(), abs=1e-5), p
        named = int(want[1] >= 0.3) if name == "fraud-mixed" else int(np.argmax(want))
        assert p[label] == classes[named], p
        if name == "tokens":  # the pooled vector, as a JSON list of floats
            assert isinstance(p["embedding"], list) and len(p["embedding"]) == 16
            assert all(isinstance(v, float) for v in p["embedding"])
            assert p["embedding"] == pytest.approx(offline["embedding"][i].tolist(), abs=1e-5)

    shown = console.file.getvalue()  # type: ignore[attr-defined]
    for line in (f"streaminfer demo --example {name}", "what the model answers",
                 "latest predictions", "accuracy=", *classes[:1]):
        assert line in shown, (line, shown)
    if name == "tokens":
        assert "(16 floats)" in shown, shown


def _is_json(value: bytes | None) -> bool:
    try:
        return isinstance(orjson.loads(value or b""), dict)
    except orjson.JSONDecodeError:
        return False
