"""Pictures as the record's raw value (``source.codec: raw``), on the real broker and Ray:
JPEG and PNG files produced as they are, keyed by their id, scored on Ray Serve replicas as
offline ONNX Runtime scores them when fed preprocessing written here (Pillow and numpy);
bytes that are no picture, or a file cut short, dead-lettered with their reasons, their
bytes unchanged; ``batch`` over the same topic giving the same answers."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import yaml
from PIL import Image

from streaminfer.pipelines.batch.job import batch
from streaminfer.pipelines.devtools.example_pictures import fruit_pictures
from tests.fixtures.pictures import apples_oranges_offline, encoded
from tests.pipelines.batch.conftest import dead_letters_in, predictions_in, stable, with_batch

pytestmark = pytest.mark.integration

REPO = Path(__file__).parents[3]


def _files() -> dict[str, bytes]:
    """Good pictures by id, as files: PNGs, and JPEGs bigger than the model's 32x32."""
    pictures, _ = fruit_pictures(24, seed=91)  # not the training pictures
    files = {}
    for i, picture in enumerate(pictures):
        image = Image.fromarray(picture, "RGB")
        files[f"p{i}"] = encoded(image) if i % 2 else \
            encoded(image.resize((48, 40)), "JPEG", quality=90)
    return files


def test_raw_picture_records_are_scored_on_serve_and_in_batch_as_offline_onnx_runtime(
    pipeline_factory: Callable[..., Any], model_factory: Callable[[str], Path],
    produce: Callable[..., None], read_topic: Callable[..., list[Any]], tmp_path: Path,
) -> None:
    model_path = model_factory("apples_oranges")
    config = yaml.safe_load((REPO / "configs/pictures.yaml").read_text())["model"]
    run = pipeline_factory(
        model=model_path, partitions=2,
        source={"features": None, "codec": "raw", "raw": {"field": "image"}},
        model_options={**{key: config[key] for key in ("inputs", "outputs", "postprocess")},
                       "serving": "serve", "serve": {"max_batch_size": 4}},
        batching={"max_size": 16, "max_wait_ms": 20})
    files = _files()
    jpeg = files["p0"]
    bad = {"bad-bytes": (b"these bytes are no picture", "not_a_picture"),
           "bad-cut": (jpeg[: len(jpeg) // 2], "truncated_picture")}
    values = list(files.values())[:12] + [data for data, _ in bad.values()] + \
        list(files.values())[12:]
    keys = list(files)[:12] + list(bad) + list(files)[12:]
    produce(run.source_topic, values, [k.encode() for k in keys])

    online = {p["id"]: p for p in
              (orjson.loads(r.value) for r in read_topic(run.predictions_topic, len(files)))}
    assert online.keys() == files.keys()
    images = {key: Image.open(io.BytesIO(data)).convert("RGB") for key, data in files.items()}
    for key, probabilities in apples_oranges_offline(model_path, images).items():
        assert online[key]["probabilities"] == pytest.approx(probabilities, abs=1e-5), key
        assert online[key]["fruit"] == ("apple", "orange")[int(np.argmax(probabilities))]
    dead = {r.key.decode(): r for r in read_topic(run.dead_letter_topic, len(bad))}
    assert {key: dict(r.headers)["error.type"].decode() for key, r in dead.items()} == \
        {key: reason for key, (_, reason) in bad.items()}
    assert all(dead[key].value == data for key, (data, _) in bad.items())  # unchanged
    assert all(dict(r.headers)["error.field"] == b"image" for r in dead.values())

    # `batch --input kafka:TOPIC` over the same records: the same answers and dead letters.
    from_topic = batch(with_batch(run.spec, unit_rows=20), f"kafka:{run.source_topic}",
                       str(tmp_path / "topic"))
    assert (from_topic.predictions, from_topic.dead_letters) == (len(files), len(bad))
    by_topic = {p["id"]: p for p in predictions_in(tmp_path / "topic")}
    assert by_topic.keys() == online.keys()
    for key, prediction in online.items():
        assert stable(by_topic[key]) == stable(prediction), key  # source included
    assert sorted(r["headers"]["error.type"] for r in dead_letters_in(tmp_path / "topic")) == \
        sorted(reason for _, reason in bad.values())
