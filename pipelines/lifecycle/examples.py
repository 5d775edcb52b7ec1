"""Labelled examples for retraining, from a range of the training topic or from files, and
their split by time: train on the older, hold out the newest."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from streaminfer.errors import DataError
from streaminfer.operators.labelled_rows import (
    labelled_events,
    labelled_rows,
    read_events,
    read_table,
)
from streaminfer.operators.records import Record
from streaminfer.pipelines.spec.training_spec import ExamplesSourceSpec

TIME_FIELDS = ("labelled_at", "predicted_at")


@dataclass(frozen=True)
class Examples:
    """Feature rows with labels and times (epoch ms, or row order), and where they came from;
    for a model fed by ``model.inputs``, each example as its event (``X`` has no columns)."""

    features: tuple[str, ...]
    X: np.ndarray
    y: np.ndarray
    times: np.ndarray
    data_range: dict[str, Any]
    skipped: int = 0
    events: tuple[dict[str, Any], ...] | None = None


def decode_examples(
    records: Sequence[Record], label_field: str, source: ExamplesSourceSpec,
) -> tuple[list[dict[str, Any]], int]:
    """The labelled examples among ``records`` (in the record-timestamp window, when one is
    set), and how many records were not labelled examples."""
    rows, skipped = [], 0
    for record in records:
        if source.from_time_ms is not None and record.timestamp < source.from_time_ms:
            continue
        if source.until_time_ms is not None and record.timestamp >= source.until_time_ms:
            continue
        try:
            value = orjson.loads(record.value or b"")
        except orjson.JSONDecodeError:
            value = None
        if (not isinstance(value, dict) or not isinstance(value.get("features"), dict)
                or value.get(label_field) is None):
            skipped += 1
            continue
        rows.append({"features": value["features"], label_field: value[label_field],
                     **{f: value[f] for f in TIME_FIELDS if isinstance(value.get(f), int)}})
    return rows, skipped


def examples_from_table(
    table: pa.Table, features: Sequence[str] | None, label_field: str,
    data_range: dict[str, Any], skipped: int = 0, where: str = "the examples",
) -> Examples:
    """Feature matrix, labels and times out of a table of labelled examples."""
    if table.num_rows == 0:
        return Examples(tuple(features or ()), np.zeros((0, len(features or ())), np.float32),
                        np.zeros(0), np.zeros(0, np.int64), data_range, skipped)
    rows = labelled_rows(table, features, label_field, where=where)
    times = np.arange(table.num_rows, dtype=np.int64)
    for name in TIME_FIELDS:
        if name in table.column_names and table.column(name).null_count == 0:
            times = np.asarray(table.column(name).to_pylist(), dtype=np.int64)
            break
    return Examples(rows.features, rows.X, rows.y, times, data_range, skipped)


def examples_from_files(
    source: ExamplesSourceSpec, features: Sequence[str] | None, label_field: str,
) -> Examples:
    """Every row of the files, in file order (then by time)."""
    assert source.files is not None
    tables = [read_table(path) for path in source.files]
    try:
        table = pa.concat_tables(tables, promote_options="default")
    except pa.ArrowInvalid as exc:
        raise DataError(f"retrain.source.files do not share one layout: {exc}") from None
    where = ", ".join(map(str, source.files))
    return examples_from_table(table, features, label_field,
                               {"files": [str(p) for p in source.files]}, where=where)


def examples_from_events(
    events: Sequence[dict[str, Any]], label_field: str, data_range: dict[str, Any],
    skipped: int = 0, where: str = "the examples",
) -> Examples:
    """Labelled examples kept as the events they stand for (``labelled_events``: the
    ``features`` object spread into each), for a model fed by ``model.inputs``."""
    unlabelled = sum(e.get(label_field) is None for e in events)
    if unlabelled:
        raise DataError(f"{where}: {unlabelled} of {len(events)} example(s) have no "
                        f"{label_field!r}; label them or leave them out")
    rows = labelled_events(events, label_field, where)
    times = np.arange(len(events), dtype=np.int64)
    for name in TIME_FIELDS:
        stamps = [e.get(name) for e in events]
        if events and all(isinstance(t, int) for t in stamps):
            times = np.asarray(stamps, dtype=np.int64)
            break
    return Examples((), rows.X, rows.y, times, data_range, skipped, rows.events)


def events_from_files(source: ExamplesSourceSpec, label_field: str) -> Examples:
    """Every row of the files as an event, in file order (then by time)."""
    assert source.files is not None
    events = [event for path in source.files for event in read_events(path)]
    where = ", ".join(map(str, source.files))
    return examples_from_events(events, label_field, {"files": [str(p) for p in source.files]},
                                where=where)


def time_split(times: np.ndarray, holdout_share: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the training rows (older) and the holdout rows (the newest share).

    >>> train, hold = time_split(np.array([5, 1, 4, 2, 3]), 0.4)
    >>> train.tolist(), hold.tolist()
    ([1, 3, 4], [2, 0])
    """
    order = np.argsort(times, kind="stable")
    held = min(max(math.ceil(len(order) * holdout_share), 1), len(order))
    return order[: len(order) - held], order[len(order) - held:]


def check_enough(examples: Examples, min_examples: int, where: str) -> None:
    """Too few examples to train on is one clear line."""
    count = len(examples.y)
    if count < min_examples:
        skipped = f" ({examples.skipped} record(s) there were not labelled examples)" \
            if examples.skipped else ""
        raise DataError(f"{where}: {count} labelled example(s), fewer than "
                        f"retrain.min_examples={min_examples}{skipped}; wait for more labels "
                        "or lower min_examples")
