"""Build prediction values by the contract in docs/contracts.md."""

from __future__ import annotations

from typing import Any

from streaminfer.operators.records import Record


def event_id(event: dict[str, Any], record: Record, id_field: str | None) -> Any:
    """The event's id field, or ``topic/partition/offset`` when it has none."""
    if id_field is not None:
        value = event.get(id_field)
        if value is not None:
            return value
    return f"{record.topic}/{record.partition}/{record.offset}"


def prediction(
    *,
    record: Record,
    event_id: Any,
    model: str,
    model_version: str,
    outputs: dict[str, Any],
    now_ms: int,
    event_time: Any = None,
) -> dict[str, Any]:
    """One prediction: id, model, version, the outputs, latency, origin and time."""
    value: dict[str, Any] = {"id": event_id, "model": model, "model_version": model_version}
    value.update(outputs)
    value["latency_ms"] = now_ms - record.timestamp
    value["source"] = {
        "topic": record.topic, "partition": record.partition, "offset": record.offset
    }
    value["ts"] = now_ms
    if event_time is not None:
        value["event_time"] = event_time
    return value
