"""Planning units: row-group runs, offset chunks, picture runs, formats."""

from __future__ import annotations

import orjson
import pytest

from streaminfer.operators.batch_units import (
    Unit,
    file_format,
    offset_units,
    picture_units,
    row_group_runs,
)


def test_row_group_runs_join_up_to_the_unit_and_keep_a_large_group_alone() -> None:
    assert row_group_runs([30, 30, 30, 30], 60) == [((0, 1), 60), ((2, 3), 60)]
    assert row_group_runs([10, 500, 10], 100) == [((0,), 10), ((1,), 500), ((2,), 10)]
    assert row_group_runs([], 100) == []


def test_row_group_runs_cover_every_group_once() -> None:
    sizes = [7, 3, 99, 1, 1, 1, 50, 50, 50]
    runs = row_group_runs(sizes, 60)
    assert [g for groups, _ in runs for g in groups] == list(range(len(sizes)))
    assert sum(rows for _, rows in runs) == sum(sizes)


def test_offset_units_cut_a_partition_exactly() -> None:
    units = offset_units("t", 3, 10, 35, 10, first=4)
    assert [(u.key, u.partition, u.start, u.end, u.rows) for u in units] == [
        ("part-00004", 3, 10, 20, 10), ("part-00005", 3, 20, 30, 10),
        ("part-00006", 3, 30, 35, 5)]
    assert offset_units("t", 0, 5, 5, 10, first=0) == []


def test_a_unit_survives_its_dict_form() -> None:
    unit = Unit("part-00001", "parquet", "s3://b/x.parquet", row_groups=(2, 3), rows=9)
    assert Unit.from_dict(unit.to_dict()) == unit
    assert "files" not in unit.to_dict()  # the manifests of other kinds keep their shape
    pictures = Unit("part-00002", "pictures", "s3://b/pics", rows=2, files=("a.png", "s/b.jpg"))
    assert Unit.from_dict(orjson.loads(orjson.dumps(pictures.to_dict()))) == pictures


def test_picture_units_cut_the_files_in_order_and_count_them() -> None:
    units = picture_units("/p", [f"{i}.png" for i in range(5)], 2, first=3)
    assert [(u.key, u.kind, u.path, u.files, u.rows) for u in units] == [
        ("part-00003", "pictures", "/p", ("0.png", "1.png"), 2),
        ("part-00004", "pictures", "/p", ("2.png", "3.png"), 2),
        ("part-00005", "pictures", "/p", ("4.png",), 1)]
    assert picture_units("/p", [], 2, first=0) == []


@pytest.mark.parametrize(("path", "fmt"), [
    ("a.parquet", "parquet"), ("A.PQ", "parquet"), ("x/y.csv", "csv"), ("e.jsonl", "jsonl"),
    ("e.ndjson", "jsonl"), ("e.json", "jsonl"),
])
def test_formats_by_suffix(path: str, fmt: str) -> None:
    assert file_format(path) == fmt


def test_an_unknown_suffix_says_what_to_do() -> None:
    with pytest.raises(ValueError, match="--input-format"):
        file_format("data.txt")
    assert file_format("data.txt", "csv") == "csv"
    with pytest.raises(ValueError, match="unknown input format"):
        file_format("data.txt", "xml")
