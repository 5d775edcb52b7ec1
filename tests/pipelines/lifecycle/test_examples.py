"""Labelled examples: decoding, the time split, the too-few line (pure)."""

from __future__ import annotations

import numpy as np
import orjson
import pyarrow as pa
import pytest

from streaminfer.errors import DataError
from streaminfer.operators.records import SourceRecord
from streaminfer.pipelines.lifecycle.examples import (
    check_enough,
    decode_examples,
    examples_from_events,
    examples_from_table,
    time_split,
)
from streaminfer.pipelines.spec.training_spec import ExamplesSourceSpec

TOPIC = ExamplesSourceSpec(topic="training")


def record(offset: int, value: object, timestamp: int = 1_000) -> SourceRecord:
    raw = value if isinstance(value, bytes) else orjson.dumps(value)
    return SourceRecord("training", 0, offset, timestamp, None, raw)


def example(i: int, label: int) -> dict[str, object]:
    return {"id": f"e{i}", "features": {"a": float(i), "b": -float(i)}, "label": label,
            "predicted_at": 100 + i, "labelled_at": 200 - i}


def test_labelled_examples_become_rows_and_others_are_counted() -> None:
    records = [record(0, example(0, 1)), record(1, b"not json"), record(2, {"id": "x"}),
               record(3, example(3, 0)), record(4, {**example(4, 1), "label": None})]
    rows, skipped = decode_examples(records, "label", TOPIC)
    assert skipped == 3
    data = examples_from_table(pa.Table.from_pylist(rows), ["b", "a"], "label", {})
    assert data.X.tolist() == [[-0.0, 0.0], [-3.0, 3.0]]
    assert data.y.tolist() == [1, 0]
    assert data.times.tolist() == [200, 197]  # labelled_at, not predicted_at


def test_the_record_time_window_is_applied() -> None:
    source = ExamplesSourceSpec(topic="training", from_time_ms=2_000, until_time_ms=3_000)
    records = [record(i, example(i, 1), timestamp=t)
               for i, t in enumerate((1_999, 2_000, 2_999, 3_000))]
    rows, skipped = decode_examples(records, "label", source)
    assert [row["features"]["a"] for row in rows] == [1.0, 2.0] and skipped == 0


def test_the_newest_share_is_held_out() -> None:
    times = np.array([50, 10, 40, 20, 30, 60, 70, 80, 90, 0])
    train, hold = time_split(times, 0.25)
    assert sorted(times[hold].tolist()) == [70, 80, 90]
    assert max(times[train]) < min(times[hold]) and len(train) + len(hold) == 10


def test_too_few_examples_is_one_line() -> None:
    data = examples_from_table(pa.Table.from_pylist([example(0, 1)]), None, "label", {},
                               skipped=2)
    with pytest.raises(DataError, match=r"^topic t: 1 labelled example\(s\), fewer than "
                       r"retrain.min_examples=5 \(2 record\(s\)"):
        check_enough(data, 5, "topic t")


def test_typed_examples_from_the_topic_are_events_with_their_string_values() -> None:
    values = [{"id": f"t{i}", "features": {"country": c, "amount": 10.0 * i},
               "label": name, "predicted_at": 100 + i, "labelled_at": 300 - i}
              for i, (c, name) in enumerate([("FR", "legit"), ("NG", "fraud"), ("DE", "legit")])]
    rows, skipped = decode_examples([record(i, v) for i, v in enumerate(values)] +
                                    [record(9, b"not json")], "label", TOPIC)
    data = examples_from_events(rows, "label", {"topic": "training"}, skipped)
    assert data.events is not None and data.skipped == 1
    assert [(e["country"], e["amount"]) for e in data.events] == [
        ("FR", 0.0), ("NG", 10.0), ("DE", 20.0)]
    assert data.y.tolist() == ["legit", "fraud", "legit"]
    assert data.times.tolist() == [300, 299, 298]  # labelled_at first
    assert data.X.shape == (3, 0)
    with pytest.raises(DataError, match="1 of 2 example"):
        examples_from_events([{"features": {"a": 1}, "label": 0},
                              {"features": {"a": 2}, "label": None}], "label", {})
