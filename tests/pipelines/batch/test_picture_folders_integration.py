"""Batch over a folder of picture files: each file one event, scored as offline ONNX Runtime
scores it when fed preprocessing written here; a file that is no picture dead-lettered with
its reason and its own bytes; a stopped job resumed without scoring a finished unit again.
Real Ray Data actors, real ONNX Runtime, pictures written here with Pillow. (The same
pictures online and in batch: tests/pipelines/online/test_picture_inputs_integration.py.)"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import onnxruntime as ort
import orjson
import pytest
import yaml
from PIL import Image

from streaminfer.pipelines.batch.job import batch
from tests.fixtures.pictures import encoded, gradient, reference
from tests.pipelines.batch.conftest import dead_letters_in, predictions_in, with_batch

pytestmark = pytest.mark.integration

REPO = Path(__file__).parents[3]


def _pictures() -> dict[str, bytes]:
    """Picture files by their path in the folder: PNG, JPEG and WebP, one in a subfolder."""
    files = {}
    for i, (name, fmt) in enumerate((("a.png", "PNG"), ("b.jpg", "JPEG"), ("c.webp", "WEBP"),
                                     ("d.jpeg", "JPEG"), ("sub/e.png", "PNG"))):
        files[name] = encoded(gradient(40 + 8 * i, 36, seed=i), fmt, quality=95)
    return files


def test_a_folder_of_pictures_scored_bad_file_dead_lettered_stopped_job_resumed(
    ray_session, pipeline_spec_factory, model_factory, tmp_path: Path,
) -> None:
    model = yaml.safe_load((REPO / "configs" / "pictures.yaml").read_text())["model"]
    model_path = model_factory("apples_oranges")
    spec = with_batch(pipeline_spec_factory(
        model=model_path, source={"features": None, "id_field": "picture_id"},
        model_options={k: model[k] for k in ("inputs", "outputs", "postprocess")}),
        actors=1, unit_pictures=2)
    folder, out = tmp_path / "pictures", tmp_path / "out"
    good = _pictures()
    bad = b"this file is called a JPEG but holds no picture"
    for name, data in {**good, "broken.jpg": bad}.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    (folder / "notes.txt").write_text("not a picture by its name: not read")

    stop = threading.Event()
    stop.set()  # stop after the first unit that finishes
    first = batch(spec, str(folder), str(out), stop=stop)
    assert not first.complete and first.units == 3  # six pictures, two a unit
    done = orjson.loads((out / "_manifest.json").read_bytes())["done"]
    assert 1 <= len(done) == first.units_done < 3
    finished = {part: part.stat().st_mtime_ns for part in out.glob("part-*.parquet")
                if part.stem in done}  # the actor may have written more than it recorded
    assert finished

    second = batch(spec, str(folder), str(out))
    assert second.complete and second.units_skipped == len(done)
    assert (second.rows, second.predictions, second.dead_letters) == (6, 5, 1)
    assert second.rows_this_run == 6 - first.rows_this_run
    for part, written in finished.items():  # a finished unit is not scored again
        assert part.stat().st_mtime_ns == written, part

    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    names = sorted(good)
    feed = np.stack([reference(Image.open(folder / n).convert("RGB"), size=(32, 32),
                               scale=1 / 255, mean=0.5, std=0.25) for n in names])
    [expected] = session.run(["probabilities"], {"image": feed})
    scored = {p["id"]: p for p in predictions_in(out)}
    assert sorted(scored) == names
    for name, probabilities in zip(names, expected, strict=True):
        assert scored[name]["probabilities"] == pytest.approx(probabilities.tolist(),
                                                              abs=1e-5), name
        assert scored[name]["source"]["topic"] == str(folder / name)

    [letter] = dead_letters_in(out)
    assert letter["key"] == "broken.jpg"
    assert letter["headers"]["error.type"] == "not_a_picture"
    assert letter["headers"]["error.field"] == "image"
    assert letter["value"] == bad.decode()  # the file's bytes, not the event made of them
