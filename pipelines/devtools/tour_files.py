"""The files the README's tour names, written from the example models' data (shipped in
``examples/``; ``python -m streaminfer.pipelines.devtools.tour_files examples`` writes them
again):

- ``events.jsonl``: 1,000 card transactions for ``configs/fraud-scoring.yaml``
  (``streaminfer produce``), one in a hundred malformed so the dead-letter topic has some;
- ``history/part-0.parquet``, ``history/part-1.parquet``: 4,000 more, for ``streaminfer batch``;
- ``labelled.csv``: the breast-cancer rows with their ``label``, for ``streaminfer validate
  configs/demo.yaml``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import orjson

from streaminfer.pipelines.devtools.example_models import breast_cancer, fraud_transactions

#: Transactions in events.jsonl; every ``BAD_EVERY``-th is malformed (a dead letter).
EVENTS, BAD_EVERY = 1_000, 100
#: Parquet parts of history/ and the rows in each.
HISTORY_PARTS, HISTORY_ROWS = 2, 2_000
#: Event time of the first transaction (2026-12-01 00:00 UTC, ms); one every 250 ms after it.
START_MS, STEP_MS = 1_796_083_200_000, 250
#: Seeds apart from the fraud model's training data (seed 7).
EVENTS_SEED, HISTORY_SEED = 101, 102


def transactions(rows: int, seed: int, first: int) -> list[dict[str, float | int | str]]:
    """``rows`` transactions as events: ``txn_id``, ``event_time`` (ms) and the features."""
    data = fraud_transactions(rows, seed)
    events: list[dict[str, float | int | str]] = []
    for index, row in enumerate(data.X):
        number = first + index
        event: dict[str, float | int | str] = {"txn_id": f"t{number:06d}",
                                               "event_time": START_MS + number * STEP_MS}
        event.update(zip(data.features, _plain(row), strict=True))
        events.append(event)
    return events


def _plain(row: np.ndarray) -> list[float | int]:
    """Whole numbers as ints (hour, counts, 0/1), the rest as floats."""
    return [int(value) if float(value).is_integer() else float(value) for value in row]


def write_events(path: Path) -> Path:
    lines = []
    for index, event in enumerate(transactions(EVENTS, EVENTS_SEED, first=0)):
        if index % BAD_EVERY == BAD_EVERY - 1:  # a number sent as text: a dead letter
            event = {**event, "amount": f"{event['amount']} EUR"}
        lines.append(orjson.dumps(event))
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def write_history(folder: Path) -> list[Path]:
    import pyarrow as pa
    from pyarrow import parquet

    folder.mkdir(parents=True, exist_ok=True)
    rows = transactions(HISTORY_PARTS * HISTORY_ROWS, HISTORY_SEED, first=EVENTS)
    paths = []
    for part in range(HISTORY_PARTS):
        path = folder / f"part-{part}.parquet"
        parquet.write_table(pa.Table.from_pylist(
            rows[part * HISTORY_ROWS:(part + 1) * HISTORY_ROWS]), path)
        paths.append(path)
    return paths


def write_labelled(path: Path) -> Path:
    data = breast_cancer()
    lines = [",".join([*data.features, "label"])]
    for row, label in zip(data.X, data.y, strict=True):
        lines.append(",".join([*(repr(float(value)) for value in row), str(int(label))]))
    path.write_text("\n".join(lines) + "\n")
    return path


def write_tour_files(folder: Path) -> list[Path]:
    """Write the tour's files into ``folder``; their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    return [write_events(folder / "events.jsonl"), *write_history(folder / "history"),
            write_labelled(folder / "labelled.csv")]


if __name__ == "__main__":  # pragma: no cover - the maintainer's way to write examples/ again
    for written in write_tour_files(Path(sys.argv[1] if len(sys.argv) > 1 else "examples")):
        print(written)
