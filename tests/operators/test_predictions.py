"""Prediction values: id, model, version, outputs, latency, origin, time."""

from __future__ import annotations

import pytest

from streaminfer.operators.predictions import event_id, prediction
from streaminfer.operators.records import SourceRecord

RECORD = SourceRecord(topic="events", partition=2, offset=41, timestamp=1_700_000_000_000,
                      key=b"k", value=b"{}")


@pytest.mark.parametrize("value", ["txn-9", 17, 0, "", {"nested": 1}])
def test_event_id_comes_from_the_id_field(value: object) -> None:
    assert event_id({"txn_id": value, "a": 1}, RECORD, "txn_id") == value


@pytest.mark.parametrize(
    ("event", "id_field"),
    [({"id": "e1"}, None),          # no id field configured
     ({"a": 1}, "id"),              # configured, missing in the event
     ({"id": None}, "id")],         # present but null
)
def test_event_id_falls_back_to_topic_partition_offset(
    event: dict[str, object], id_field: str | None
) -> None:
    assert event_id(event, RECORD, id_field) == "events/2/41"


def test_prediction_has_the_contract_fields() -> None:
    now_ms = RECORD.timestamp + 37
    value = prediction(
        record=RECORD, event_id="e1", model="fraud-mlp", model_version="abc123",
        outputs={"label": 1, "probabilities": [0.25, 0.75]}, now_ms=now_ms,
    )
    assert value == {
        "id": "e1",
        "model": "fraud-mlp",
        "model_version": "abc123",
        "label": 1,
        "probabilities": [0.25, 0.75],
        "latency_ms": 37,
        "source": {"topic": "events", "partition": 2, "offset": 41},
        "ts": now_ms,
    }
    assert "event_time" not in value


def test_latency_is_now_minus_the_record_timestamp() -> None:
    for delta in (0, 1, 12_345):
        value = prediction(record=RECORD, event_id="x", model="m", model_version="v",
                           outputs={}, now_ms=RECORD.timestamp + delta)
        assert value["latency_ms"] == delta
        assert value["ts"] == RECORD.timestamp + delta


@pytest.mark.parametrize("event_time", [1_699_999_999_000, 0, "2024-01-01T00:00:00Z"])
def test_event_time_is_copied_when_given(event_time: object) -> None:
    value = prediction(record=RECORD, event_id="x", model="m", model_version="v",
                       outputs={"score": 0.5}, now_ms=RECORD.timestamp, event_time=event_time)
    assert value["event_time"] == event_time
    assert value["score"] == 0.5


def test_the_outputs_dict_is_not_modified() -> None:
    outputs = {"score": 0.5}
    prediction(record=RECORD, event_id="x", model="m", model_version="v", outputs=outputs,
               now_ms=RECORD.timestamp)
    assert outputs == {"score": 0.5}
