"""Pictures as events (the apples_oranges example, fed as configs/pictures.yaml configures
it): online on the real broker and Ray, on Ray Serve replicas (which merge the batches of
pictures of their requests), base64 pictures of several formats, sizes and modes scored as
offline ONNX Runtime scores them when fed preprocessing written here (Pillow and numpy); bad
pictures dead-lettered with their reasons while the rest of their micro-batch is scored;
HTTP /score taking a picture and refusing a bad one with its reason; `batch` over the same
events in JSONL and Parquet, and over the same pictures as files in a folder, giving the
online predictions. (Pictures as the record's raw value, on Serve and in `batch` over the
topic: test_picture_raw_integration.py.)"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pytest
import yaml
from PIL import Image, ImageOps

from streaminfer.pipelines.batch.job import batch
from streaminfer.pipelines.devtools.example_pictures import fruit_pictures
from tests.fixtures.pictures import apples_oranges_offline, b64, encoded, png_header
from tests.pipelines.batch.conftest import predictions_in, stable, with_batch, write_parquet

pytestmark = pytest.mark.integration

REPO = Path(__file__).parents[3]
MAX_RECORD_BYTES = 100_000  # a 200x200 picture of noise is more, base64


def _config_model() -> dict[str, Any]:
    model: dict[str, Any] = yaml.safe_load(
        (REPO / "configs" / "pictures.yaml").read_text())["model"]
    return {key: model[key] for key in ("inputs", "outputs", "postprocess")}


def _files() -> dict[str, bytes | str]:
    """Good pictures by id: the file bytes (or a data URI) an event carries."""
    pictures, _ = fruit_pictures(80, seed=77)  # not the training pictures
    images = [Image.fromarray(p, "RGB") for p in pictures]
    files: dict[str, bytes | str] = {}
    for i, image in enumerate(images):
        kind = i % 8
        if kind in (0, 1, 2):
            files[f"png{i}"] = encoded(image)
        elif kind == 3:  # bigger and not square: cropped to the centre
            files[f"jpeg{i}"] = encoded(image.resize((48, 40)), "JPEG", quality=92)
        elif kind == 4:
            files[f"webp{i}"] = encoded(image.resize((40, 56)), "WEBP", quality=90)
        elif kind == 5:  # transparent corners: white under them
            rgba = image.convert("RGBA")
            alpha = np.full((32, 32), 255, dtype=np.uint8)
            alpha[:6, :6] = 0
            rgba.putalpha(Image.fromarray(alpha, "L"))
            files[f"rgba{i}"] = encoded(rgba)
        elif kind == 6:  # stored turned, with EXIF orientation 8 (turn back 90 degrees)
            exif = Image.Exif()
            exif[0x0112] = 8
            files[f"exif{i}"] = encoded(image.transpose(Image.Transpose.ROTATE_270),
                                        exif=exif)
        else:
            cmyk = encoded(image.convert("CMYK"), "JPEG", quality=95)
            files[f"cmyk{i}"] = cmyk if i % 16 == 7 else \
                "data:image/png;base64," + b64(encoded(image))
    return files


def _upright_rgb(data: bytes | str) -> Image.Image:
    """A picture decoded here: EXIF orientation, alpha over white, RGB."""
    if isinstance(data, str):
        import base64

        data = base64.b64decode(data.split(",", 1)[1])
    image = Image.open(io.BytesIO(data))
    image.load()
    image = ImageOps.exif_transpose(image) or image
    if image.mode == "RGBA":
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, image)
    return image.convert("RGB")


def _event(key: str, data: bytes | str) -> bytes:
    return orjson.dumps({"picture_id": key, "image": data if isinstance(data, str) else
                         b64(data)})


def _bad() -> dict[str, tuple[bytes, str]]:
    png = encoded(Image.fromarray(fruit_pictures(1, seed=5)[0][0], "RGB"))
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 256, (200, 200, 3),
                                                              dtype=np.uint8), "RGB")
    return {
        "bad-base64": (orjson.dumps({"picture_id": "bad-base64", "image": "@@ not base64"}),
                       "invalid_base64"),
        "bad-truncated": (_event("bad-truncated", png[: len(png) // 2]), "truncated_picture"),
        "bad-bytes": (_event("bad-bytes", b"these bytes are not a picture"), "not_a_picture"),
        "bad-bomb": (_event("bad-bomb", png_header(6000, 5000)), "picture_too_large"),
        "bad-missing": (orjson.dumps({"picture_id": "bad-missing"}), "missing_feature"),
        "bad-number": (orjson.dumps({"picture_id": "bad-number", "image": 42}),
                       "wrong_input_type"),
        "bad-oversized": (_event("bad-oversized", encoded(noise)), "oversized_record"),
    }


def test_pictures_on_serve_replicas_over_http_and_in_batch_as_offline_onnx_runtime(
    pipeline_factory, model_factory, produce, read_topic, http_port, tmp_path: Path,
) -> None:
    model_path = model_factory("apples_oranges")
    run = pipeline_factory(
        model=model_path, partitions=2,
        source={"features": None, "id_field": "picture_id", "max_record_bytes": MAX_RECORD_BYTES},
        model_options={**_config_model(), "serving": "serve",
                       "serve": {"max_batch_size": 8, "batch_wait_timeout_s": 0.05}},
        batching={"max_size": 7, "max_wait_ms": 5}, http={"enabled": True, "port": http_port})
    files, bad = _files(), _bad()
    events = [_event(key, data) for key, data in files.items()]
    # Bad pictures in the middle of good ones: their micro-batches are scored all the same.
    produce(run.source_topic, events[:40] + [e for e, _ in bad.values()] + events[40:])

    online = {p["id"]: p for p in
              (orjson.loads(r.value) for r in read_topic(run.predictions_topic, len(files)))}
    assert online.keys() == files.keys()
    expected = apples_oranges_offline(model_path, {k: _upright_rgb(d) for k, d in files.items()})
    for key, probabilities in expected.items():
        assert online[key]["probabilities"] == pytest.approx(probabilities, abs=1e-5), key
        assert online[key]["fruit"] == ("apple", "orange")[int(np.argmax(probabilities))]
        assert [k["label"] for k in online[key]["top_k"]] == sorted(
            ("apple", "orange"), key=lambda c: -probabilities[("apple", "orange").index(c)])
    dead = {orjson.loads(r.value).get("picture_id"): dict(r.headers)
            for r in read_topic(run.dead_letter_topic, len(bad))}
    assert {key: h["error.type"].decode() for key, h in dead.items()} == \
        {key: reason for key, (_, reason) in bad.items()}
    assert all(h["error.field"] == b"image" for key, h in dead.items()
               if key != "bad-oversized")  # refused whole, before it is read
    assert b"max_pixels" in dead["bad-bomb"]["error.message"]

    url = f"http://127.0.0.1:{http_port}/score"
    key, data = next(iter(files.items()))
    answer = httpx.post(url, content=_event("h1", data), timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json()["probabilities"] == pytest.approx(expected[key], abs=1e-5)
    refused = httpx.post(url, content=_event("h2", b"not a picture"), timeout=30)
    assert 400 <= refused.status_code < 500, refused.text
    [error] = refused.json()["errors"]
    assert (error["type"], error["field"]) == ("not_a_picture", "image")
    stats = run.pipeline.stop()  # no worker crashed (max_restarts: 0): each counted its own
    assert stats.predictions == len(files)
    assert stats.dead_letters_by_reason == {reason: 1 for _, reason in bad.values()}

    # `batch` over the same events, in JSONL (bad ones too) and Parquet, and over the same
    # pictures as files in a folder beside the JSONL (each file one event, its id its path in
    # the folder): the same answers.
    spec = with_batch(run.spec, unit_rows=30)
    folder, names = tmp_path / "folder", {}
    for key, data in files.items():
        raw = data if isinstance(data, bytes) else base64.b64decode(data.split(",", 1)[1])
        fmt = Image.open(io.BytesIO(raw)).format
        name = f"{'sub/' if len(names) % 2 else ''}{key}.{fmt.lower()}"
        names[name] = key
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(raw)
    (folder / "pictures.jsonl").write_bytes(b"\n".join(events + [e for e, _ in bad.values()])
                                            + b"\n")
    parquet = write_parquet(tmp_path / "pictures.parquet",
                            [orjson.loads(e) for e in events], row_group_size=25)
    for source, dead_count, as_files in ((folder, len(bad), names), (parquet, 0, {})):
        out = tmp_path / f"out-{source.name}"
        result = batch(spec, str(source), str(out))
        assert (result.predictions, result.dead_letters) == \
            (len(files) + len(as_files), dead_count), source
        by_file = {p["id"]: p for p in predictions_in(out)}
        assert by_file.keys() == online.keys() | as_files.keys()
        for key, prediction in [*online.items(), *((n, online[k]) for n, k in as_files.items())]:
            assert stable({**by_file[key], "id": prediction["id"]}, without_source=True) == \
                stable(prediction, without_source=True), (source.name, key)
