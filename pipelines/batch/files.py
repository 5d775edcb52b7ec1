"""Input files: a file, a folder or a glob, local or on an object store (pyarrow's
filesystems: ``s3://``, ``gs://``, ``hdfs://``...), planned into units; for a model with a
picture input, picture files too (each one event)."""

from __future__ import annotations

import fnmatch
import os
import posixpath
from typing import Any

from pyarrow import fs

from streaminfer.errors import DataError
from streaminfer.operators.batch_units import (
    SUFFIXES,
    Unit,
    file_format,
    is_picture_file,
    picture_units,
    row_group_runs,
    unit_key,
)

_GLOB = frozenset("*?[")


def filesystem_of(path: str) -> tuple[fs.FileSystem, str]:
    """The filesystem of ``path`` (a URI or a local path) and the path within it."""
    if "://" in path:
        try:
            return fs.FileSystem.from_uri(path)  # type: ignore[no-any-return]
        except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ...
            raise DataError(f"{path}: cannot open its filesystem: {exc}") from None
    return fs.LocalFileSystem(), os.path.abspath(os.path.expanduser(path))


def _uri(path: str, template: str) -> str:
    """``path`` (as the filesystem names it) in the form the source was given."""
    scheme = template.split("://", 1)[0] + "://" if "://" in template else ""
    return f"{scheme}{path}"


def _found(source: str, pictures: bool) -> tuple[str, list[str]]:
    """The folder the files of ``source`` are named relative to, and the files (sorted)."""
    filesystem, path = filesystem_of(source)
    unread = False  # picture files left out (no picture input)
    if any(char in _GLOB for char in path):
        base = path[: min(path.index(c) for c in _GLOB if c in path)].rsplit("/", 1)[0] or "/"
        found = [info.path for info in _listing(filesystem, base, source)
                 if fnmatch.fnmatch(info.path, path)]
    else:
        info = filesystem.get_file_info(path)
        if info.type == fs.FileType.NotFound:
            raise DataError(f"input {source} does not exist")
        if info.type == fs.FileType.Directory:
            base = path
            listed = [entry.path for entry in _listing(filesystem, path, source)]
            found = [name for name in listed if _is_data_file(name, pictures)]
            unread = not pictures and any(_is_data_file(name, True) for name in listed)
        else:
            base, found = posixpath.dirname(path) or "/", [path]
    if not found:
        wanted = ".parquet, .csv, .jsonl" + (", .jpg, .jpeg, .png, .webp" if pictures else "")
        hint = "; it holds pictures, which are read for a model with a picture input " \
            "(model.inputs.NAME.picture)" if unread else ""
        raise DataError(f"input {source} matches no data file ({wanted}){hint}")
    return base, sorted(found)


def _listing(filesystem: fs.FileSystem, base: str, source: str) -> list[Any]:
    try:
        entries = filesystem.get_file_info(fs.FileSelector(base, recursive=True))
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise DataError(f"input {source}: cannot list {base}: {exc}") from None
    return [entry for entry in entries if entry.type == fs.FileType.File]


def _is_data_file(path: str, pictures: bool) -> bool:
    name = path.rsplit("/", 1)[-1]
    return not name.startswith((".", "_")) and (
        any(name.lower().endswith(s) for s in SUFFIXES) or (pictures and is_picture_file(name)))


def plan_files(source: str, unit_rows: int, input_format: str | None = None,
               unit_pictures: int | None = None) -> list[Unit]:
    """Units over the files of ``source``: Parquet row groups joined up to ``unit_rows``
    rows, each CSV or JSONL file whole; with ``unit_pictures`` (a model with a picture
    input), then the picture files in runs of that many, named relative to the folder (a
    glob: the folder before its first wildcard)."""
    base, found = _found(source, unit_pictures is not None)
    pictures = [name for name in found if unit_pictures and is_picture_file(name)]
    data = sorted(set(found) - set(pictures))
    units: list[Unit] = []
    for path in (_uri(name, source) for name in data):
        try:
            fmt = file_format(path, input_format)
        except ValueError as exc:
            raise DataError(str(exc)) from None
        if fmt != "parquet":
            units.append(Unit(unit_key(len(units)), fmt, path))
            continue
        for groups, rows in row_group_runs(parquet_row_groups(path), unit_rows):
            units.append(Unit(unit_key(len(units)), "parquet", path, row_groups=groups,
                              rows=rows))
    if pictures:
        assert unit_pictures is not None
        named = [posixpath.relpath(name, base) for name in pictures]
        units += picture_units(_uri(base, source), named, unit_pictures, first=len(units))
    return units


def parquet_row_groups(path: str) -> list[int]:
    """Rows in each row group of a Parquet file."""
    import pyarrow.parquet as pq

    filesystem, inner = filesystem_of(path)
    try:
        with filesystem.open_input_file(inner) as handle:
            meta = pq.ParquetFile(handle).metadata
            return [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    except Exception as exc:  # ArrowInvalid for a file that is not Parquet
        raise DataError(f"{path}: not a readable Parquet file: {exc}") from None
