"""``streaminfer optimize`` on a typed model: the TF-IDF text classifier, fed strings by its
``model.inputs``; each technique runs or says why it does not apply, and the command ends
well with what did apply."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
import orjson
import pytest
import yaml
from typer.testing import CliRunner

from streaminfer.cli.commands import app
from streaminfer.pipelines.devtools.example_models import Dataset

REPO = Path(__file__).resolve().parents[3]


def test_the_text_classifier_gets_what_applies_and_the_rest_says_why(
    model_factory: Callable[[str], Path], dataset_factory: Callable[[str], Dataset],
    tmp_path: Path,
) -> None:
    spec = yaml.safe_load((REPO / "configs" / "text-classifier.yaml").read_text())
    spec["model"]["path"] = str(model_factory("text_classifier"))
    classes = spec["model"]["postprocess"]["classes"]
    config = tmp_path / "text.yaml"
    config.write_text(yaml.safe_dump(spec))
    texts = dataset_factory("text_classifier")
    data = tmp_path / "messages.jsonl"  # labels as the config's class names
    data.write_bytes(b"".join(orjson.dumps({"message": str(text), "label": classes[label]})
                              + b"\n" for text, label in zip(texts.X[:, 0], texts.y,
                                                             strict=True))
                     + b'{"message": 42, "label": "billing"}\n')  # refused: not a string
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["optimize", str(config), "--data", str(data), "--out",
                                      str(out), "--rounds", "1", "--block-s", "0.02"])
    assert result.exit_code == 0, result.output
    report = orjson.loads((out / "report.json").read_bytes())
    variants = {v["name"]: v for v in report["variants"]}
    assert report["rows"] == len(texts.y) and report["refused"] == {"wrong_input_type": 1}
    assert "refused, left out: 1 wrong_input_type" in result.output

    session = ort.InferenceSession(str(model_factory("text_classifier")),
                                   providers=["CPUExecutionProvider"])
    (proba,) = session.run(["probabilities"], {"text": texts.X[:, :1].astype(str)})
    assert variants["original"]["metrics"]["accuracy"] == pytest.approx(
        np.mean(np.argmax(proba, 1) == texts.y), abs=1e-12)

    why = {"int8-dynamic": "no MatMul/Gemm weights", "int8-static-qdq": "no MatMul/Gemm/Conv",
           "fp16": "TfIdfVectorizer, Tokenizer, which have no float16 kernels",
           "magnitude-50": "no MatMul/Gemm weights", "structured-25": "no hidden layer",
           "channels-25": "no convolution"}
    for name, reason in why.items():
        assert variants[name]["status"] == "skipped" and reason in variants[name]["reason"]
        assert f"{name}: skipped: " in " ".join(result.output.split())
    for level in ("basic", "extended", "all"):  # graph optimization applies to any graph
        v = variants[f"graph-{level}"]
        assert v["status"] == "accepted" and v["agreement"] == 1.0, v["reason"]
        assert v["speed"]["cpu"]["rows_per_s"]["128"] > 0  # batching.max_size
