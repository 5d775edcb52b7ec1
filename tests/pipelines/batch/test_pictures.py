"""Folders of pictures planned and read as batch events (no Ray here): which files, their
names relative to the folder, the event each becomes, and the dead letters of files that
cannot be read or are too large, or of pictures refused later (holding the file's bytes)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import orjson
import pytest

from streaminfer.errors import ConfigError, DataError
from streaminfer.operators.dead_letter import DeadLetter, dead_letter
from streaminfer.operators.records import RecordError, SourceRecord
from streaminfer.pipelines.batch.files import plan_files
from streaminfer.pipelines.batch.pictures import PictureFiles, picture_field, with_files
from streaminfer.pipelines.spec.schema import PipelineSpec


def headers(letter: DeadLetter) -> dict[str, str]:
    return {k: v.decode() for k, v in letter.headers}


def _folder(root: Path) -> Path:
    for name in ("b.PNG", "a.jpg", "sub/c.webp", "sub/d.jpeg", "rows.jsonl", "notes.txt",
                 ".hidden.png", "_meta.png"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(name.encode())
    return root


def test_a_folder_plans_its_data_files_then_its_pictures_by_path_in_the_folder(
    tmp_path: Path,
) -> None:
    folder = _folder(tmp_path / "in")
    units = plan_files(str(folder), 100, unit_pictures=3)
    assert [(u.kind, u.path, u.files) for u in units] == [
        ("jsonl", str(folder / "rows.jsonl"), ()),
        ("pictures", str(folder), ("a.jpg", "b.PNG", "sub/c.webp")),
        ("pictures", str(folder), ("sub/d.jpeg",))]
    assert [u.key for u in units] == ["part-00000", "part-00001", "part-00002"]
    # Without a picture input the pictures are not read, as before.
    assert [u.kind for u in plan_files(str(folder), 100)] == ["jsonl"]
    # A glob names its pictures relative to the folder before its first wildcard.
    [unit] = plan_files(str(folder / "sub" / "*"), 100, unit_pictures=5)
    assert (unit.path, unit.files) == (str(folder / "sub"), ("c.webp", "d.jpeg"))
    # One picture file: named in its folder.
    [one] = plan_files(str(folder / "a.jpg"), 100, unit_pictures=5)
    assert (one.path, one.files) == (str(folder), ("a.jpg",))


def test_a_folder_of_pictures_for_a_model_without_a_picture_input_says_why(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "pics"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"x")
    with pytest.raises(DataError, match=r"no data file .*holds pictures.*NAME\.picture"):
        plan_files(str(folder), 100)


def _spec(inputs: dict[str, Any] | None, second: dict[str, Any] | None = None) -> PipelineSpec:
    model: dict[str, Any] = {"path": "/m.onnx", "inputs": inputs} if inputs else \
        {"path": "/m.onnx"}
    data: dict[str, Any] = {"name": "p", "kafka": {"bootstrap_servers": "localhost:1"},
                            "source": {"topics": ["t"], "group_id": "g", "features": ["x"]},
                            "sink": {"predictions_topic": "o", "dead_letter_topic": "d"}}
    if second is None:
        data["model"] = model
    else:
        data["models"] = [model, {"path": "/n.onnx", "name": "n", "inputs": second}]
        data["routing"] = {"field": "kind", "routes": {"a": "m", "b": "n"}}
    return PipelineSpec.model_validate(data)


def test_the_picture_field_is_the_one_a_picture_input_reads() -> None:
    assert picture_field(_spec(None)) is None
    assert picture_field(_spec({"x": {"field": "x"}, "im": {"field": "img",
                                                             "picture": {}}})) == "img"
    with pytest.raises(ConfigError, match="img, photo"):
        picture_field(_spec({"im": {"field": "img", "picture": {}}},
                            {"im": {"field": "photo", "picture": {}}}))


def test_each_file_is_one_event_and_an_unreadable_or_large_one_a_dead_letter(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "pics"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.png").write_bytes(b"\x89PNG a")
    (folder / "sub" / "b.jpg").write_bytes(b"J" * 30)  # 40 bytes as base64
    (folder / "big.png").write_bytes(b"B" * 31)  # 44 bytes as base64: more than 40
    (folder / "gone.png").write_bytes(b"G")
    [unit] = plan_files(str(folder), 10, unit_pictures=10)
    (folder / "gone.png").unlink()  # planned, then gone: cannot be read
    reader = PictureFiles("image", "picture_id", max_record_bytes=40)
    [(records, unread, originals)] = list(reader.chunks(unit, 7, batch_size=10))

    assert [(r.topic, r.key, orjson.loads(r.value or b"")) for r in records] == [
        (str(folder / "a.png"), b"a.png",
         {"picture_id": "a.png", "image": base64.b64encode(b"\x89PNG a").decode()}),
        (str(folder / "sub/b.jpg"), b"sub/b.jpg",
         {"picture_id": "sub/b.jpg", "image": base64.b64encode(b"J" * 30).decode()})]
    assert originals == {str(folder / "a.png"): b"\x89PNG a",
                         str(folder / "sub/b.jpg"): b"J" * 30}
    assert [(letter.key, headers(letter)["error.type"], letter.value) for letter in unread] \
        == [(b"big.png", "oversized_record", None), (b"gone.png", "unreadable_file", None)]
    assert "44 as base64" in headers(unread[0])["error.message"]
    assert str(folder / "gone.png") in headers(unread[1])["error.message"]

    # Without an id field the event is the picture alone; the batch size cuts the unit.
    chunks = list(PictureFiles("image", None, 10**6).chunks(unit, 7, batch_size=3))
    assert [len(records) + len(unread) for records, unread, _ in chunks] == [3, 1]
    assert orjson.loads(chunks[0][0][0].value or b"").keys() == {"image"}


def test_a_refused_picture_dead_letter_holds_the_files_bytes() -> None:
    event = SourceRecord("/p/a.png", 0, 0, 7, b"a.png", b'{"image": "..."}')
    other = SourceRecord("/p/b.png", 0, 0, 7, b"b.png", b"{}")
    refused = [dead_letter(event, RecordError("not_a_picture", "no", "validate", "image")),
               dead_letter(other, RecordError("missing_feature", "no", "validate"))]
    kept = with_files(refused, {"/p/a.png": b"file bytes"})
    assert [letter.value for letter in kept] == [b"file bytes", b"{}"]
    assert [letter.headers for letter in kept] == [letter.headers for letter in refused]


def test_a_chunk_stops_before_the_file_that_would_pass_batching_max_bytes(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "pics"
    folder.mkdir()
    for name, size in (("a.png", 30), ("b.png", 30), ("c.png", 300), ("d.png", 3)):
        (folder / name).write_bytes(b"x" * size)
    [unit] = plan_files(str(folder), 10, unit_pictures=10)
    reader = PictureFiles("image", None, 10**6, max_batch_bytes=120)
    chunks = [records for records, _, _ in reader.chunks(unit, 7, 10)]
    # a and b fit together (52 bytes each: 40 of base64 and the JSON); c alone is above the
    # bound, so it is a chunk of its own; then d.
    assert [[(r.key, len(r.value or b"")) for r in chunk] for chunk in chunks] == [
        [(b"a.png", 52), (b"b.png", 52)], [(b"c.png", 412)], [(b"d.png", 16)]]
