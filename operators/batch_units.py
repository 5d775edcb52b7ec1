"""Units of batch work: what one scoring actor reads, scores and writes as one part file.

A unit is a CSV or JSONL file, a run of a Parquet file's row groups, a run of picture files
of one folder, or a range of offsets of one topic partition. Units are also the unit of
resumption: the manifest lists the finished ones.

>>> [(u.start, u.end) for u in offset_units("events", 2, 0, 250, 100, first=0)]
[(0, 100), (100, 200), (200, 250)]
>>> row_group_runs([40, 40, 40, 90], 100)
[((0, 1), 80), ((2,), 40), ((3,), 90)]
>>> [u.files for u in picture_units("pics", ["a.png", "b.jpg", "c.webp"], 2, first=4)]
[('a.png', 'b.jpg'), ('c.webp',)]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

FileFormat = Literal["parquet", "csv", "jsonl"]
UnitKind = Literal["parquet", "csv", "jsonl", "pictures", "topic"]

#: File name suffix -> format of an input file.
SUFFIXES: dict[str, FileFormat] = {
    ".parquet": "parquet", ".pq": "parquet", ".csv": "csv",
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
}
#: File name suffixes of pictures (each file one event, for a model with a picture input).
PICTURE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


@dataclass(frozen=True)
class Unit:
    """One unit of work. ``path`` is a file (or URI) for files, the folder for pictures
    (``files``: theirs, relative to it), the topic name for topics."""

    key: str
    kind: UnitKind
    path: str
    row_groups: tuple[int, ...] = ()
    partition: int = 0
    start: int = 0
    end: int = 0
    rows: int | None = None
    files: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["row_groups"] = list(self.row_groups)
        if self.files:
            data["files"] = list(self.files)
        else:  # manifests of the other kinds keep their shape
            del data["files"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Unit:
        return cls(**{**data, "row_groups": tuple(data.get("row_groups") or ()),
                      "files": tuple(data.get("files") or ())})


def unit_key(index: int) -> str:
    """The name of the ``index``-th unit, also the stem of its part files."""
    return f"part-{index:05d}"


def row_group_runs(sizes: Sequence[int], unit_rows: int) -> list[tuple[tuple[int, ...], int]]:
    """Join consecutive row groups (by their row counts) into runs of at most ``unit_rows``
    rows (a larger group stays alone); returns (group indices, rows) per run."""
    runs: list[tuple[tuple[int, ...], int]] = []
    current: list[int] = []
    rows = 0
    for index, size in enumerate(sizes):
        if current and rows + size > unit_rows:
            runs.append((tuple(current), rows))
            current, rows = [], 0
        current.append(index)
        rows += size
    if current:
        runs.append((tuple(current), rows))
    return runs


def offset_units(
    topic: str, partition: int, start: int, end: int, unit_rows: int, *, first: int
) -> list[Unit]:
    """Cut the offsets ``[start, end)`` of one partition into units of ``unit_rows``;
    ``first`` is the index of the first unit's key."""
    units = []
    for index, lo in enumerate(range(start, end, unit_rows)):
        hi = min(lo + unit_rows, end)
        units.append(Unit(unit_key(first + index), "topic", topic, partition=partition,
                          start=lo, end=hi, rows=hi - lo))
    return units


def picture_units(folder: str, files: Sequence[str], per_unit: int, *,
                  first: int) -> list[Unit]:
    """Cut the picture ``files`` (relative to ``folder``, in order) into units of
    ``per_unit``; ``first`` is the index of the first unit's key."""
    return [Unit(unit_key(first + index), "pictures", folder, rows=len(chunk),
                 files=tuple(chunk))
            for index, chunk in enumerate(files[lo:lo + per_unit]
                                          for lo in range(0, len(files), per_unit))]


def is_picture_file(path: str) -> bool:
    """Whether ``path`` names a picture by its suffix (.jpg, .jpeg, .png, .webp)."""
    return path.lower().endswith(PICTURE_SUFFIXES)


def file_format(path: str, given: str | None = None) -> FileFormat:
    """The format of an input file: ``given``, else from its suffix."""
    if given is not None:
        if given not in ("parquet", "csv", "jsonl"):
            raise ValueError(f"unknown input format {given!r}; known: parquet, csv, jsonl")
        return given  # type: ignore[return-value]
    lowered = path.lower()
    for suffix, fmt in SUFFIXES.items():
        if lowered.endswith(suffix):
            return fmt
    raise ValueError(
        f"{path}: cannot tell the format from its name; use a .parquet, .csv or .jsonl "
        "suffix or pass --input-format"
    )
