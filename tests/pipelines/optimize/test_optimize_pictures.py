"""``streaminfer optimize configs/pictures.yaml``: the apples-and-oranges CNN optimized on
real pictures fed through its own picture preprocessing; every number the report gives is
recomputed here from the variant's file and pictures preprocessed independently (Pillow and
numpy, ``tests/fixtures/pictures.py``)."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import orjson
import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from streaminfer.cli.commands import app
from streaminfer.operators.model_runner import read_model_file
from streaminfer.pipelines.devtools.example_pictures import CLASSES, fruit_pictures, png_base64
from streaminfer.pipelines.lifecycle.registry import Registry
from tests.fixtures.pictures import reference
from tests.fixtures.registry import registry_section

REPO = Path(__file__).resolve().parents[3]
PICTURES = 160
pytestmark = pytest.mark.filterwarnings("ignore:The y_prob values do not sum to one")


def preprocessed(events: list[dict], model: dict) -> np.ndarray:
    """The pictures as the config says the model takes them, computed here."""
    picture = model["inputs"]["image"]["picture"]
    return np.stack([reference(Image.open(io.BytesIO(base64.b64decode(e["image"]))).convert(
        "RGB"), size=(32, 32), scale=picture["scale"], mean=picture["mean"],
        std=picture["std"]) for e in events])


def probabilities(path: str, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(read_model_file(path), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(["probabilities"], {"image": x})[0])


def test_the_cnn_is_quantized_from_real_pictures_and_every_number_is_recomputed(
    model_factory: Callable[[str], Path], registry: Registry, tmp_path: Path,
) -> None:
    pictures, labels = fruit_pictures(PICTURES, seed=91)  # not the training seed
    events = [{"picture_id": i, "image": png_base64(p), "label": CLASSES[y]}
              for i, (p, y) in enumerate(zip(pictures, labels, strict=True))]
    data = tmp_path / "pictures.jsonl"
    data.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    spec = yaml.safe_load((REPO / "configs" / "pictures.yaml").read_text())
    spec["model"]["path"] = str(model_factory("apples_oranges"))
    spec["registry"] = registry_section(registry)
    spec["optimize"] = {"prune": [0.25], "sparsities": [0.5], "max_loss": 0.02}
    config = tmp_path / "pictures.yaml"
    config.write_text(yaml.safe_dump(spec))
    out = tmp_path / "out"

    result = CliRunner().invoke(app, ["optimize", str(config), "--data", str(data), "--out",
                                      str(out), "--rounds", "1", "--block-s", "0.02", "--register"])
    assert result.exit_code == 0, result.output
    report = orjson.loads((out / "report.json").read_bytes())
    variants = {v["name"]: v for v in report["variants"]}
    assert report["rows"] == PICTURES and report["refused"] == {}

    x = preprocessed(events, spec["model"])
    base = probabilities(variants["original"]["file"], x)
    assert variants["original"]["metrics"]["accuracy"] == pytest.approx(
        np.mean(np.argmax(base, 1) == labels), abs=1e-12)
    for name in ("int8-static-qdq-per-channel", "fp16", "channels-25"):
        v = variants[name]
        assert v["status"] in ("accepted", "rejected"), (name, v["reason"])
        proba = probabilities(v["file"], x)
        accuracy = np.mean(np.argmax(proba, 1) == labels)
        assert v["delta"]["accuracy"] == pytest.approx(
            accuracy - variants["original"]["metrics"]["accuracy"], abs=1e-12), name
        assert v["agreement"] == pytest.approx(
            np.mean(np.argmax(proba, 1) == np.argmax(base, 1)), abs=1e-12), name
        assert (v["status"] == "accepted") == (v["loss"] <= report["max_loss"]), name

    # int8: QDQ around the convolutions, the weights per channel, the picture's range from
    # the calibration pictures as preprocessed (pixel/255 -> (x - 0.5) / 0.25), not raw bytes
    quantized = onnx.load(variants["int8-static-qdq-per-channel"]["file"])
    made = {o: n for n in quantized.graph.node for o in n.output}
    convs = [n for n in quantized.graph.node if n.op_type == "Conv"]
    assert convs and all(made[n.input[1]].op_type == "DequantizeLinear" for n in convs)
    arrays = {i.name: onnx.numpy_helper.to_array(i) for i in quantized.graph.initializer}
    first = made[convs[0].input[0]]  # DequantizeLinear of the quantized picture
    assert arrays[first.input[1]] == pytest.approx((x.max() - x.min()) / 255, rel=1e-3)
    assert arrays[made[convs[0].input[1]].input[1]].shape == (8,)  # one scale per channel

    pruned = onnx.load(variants["channels-25"]["file"])
    assert {i.name: tuple(i.dims) for i in pruned.graph.initializer}["w1"] == (6, 3, 3, 3)
    assert variants["structured-25"]["status"] == "skipped"
    assert "hidden layer" in variants["structured-25"]["reason"]
    assert variants["original"]["speed"]["cpu"]["rows_per_s"]["64"] > 0  # batching.max_size
    assert variants["int8-static-qdq-per-channel"]["speedup"] > 0

    if report["chosen"] is None:
        assert "nothing registered" in result.output and registry.names() == []
    else:
        found = registry.resolve("apples_oranges", "challenger")
        chosen = variants[report["chosen"]]
        assert found.sha256 == chosen["sha256"] and chosen["status"] == "accepted"
        assert found.tags["parent_sha256"] == report["model_sha256"]
        assert found.tags["technique"] == chosen["technique"]
