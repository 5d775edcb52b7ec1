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
    features: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One prediction: id, model, version, the outputs, latency, origin and time (and,
    when asked, its feature row by name)."""
    value: dict[str, Any] = {"id": event_id, "model": model, "model_version": model_version}
    value.update(outputs)
    value["latency_ms"] = now_ms - record.timestamp
    value["source"] = {
        "topic": record.topic, "partition": record.partition, "offset": record.offset
    }
    value["ts"] = now_ms
    if event_time is not None:
        value["event_time"] = event_time
    if features is not None:
        value["features"] = features
    return value


def feature_row(
    event: dict[str, Any], fields: list[str] | None, array_field: str | None
) -> dict[str, Any]:
    """An event's feature values by name: its ``fields``, or ``f0, f1, ...`` for the items
    of ``array_field`` (the event was validated, so they are there).

    >>> feature_row({"a": 1, "b": 2.5, "x": 0}, ["a", "b"], None)
    {'a': 1, 'b': 2.5}
    >>> feature_row({"x": [3, 4]}, None, "x")
    {'f0': 3, 'f1': 4}
    """
    if fields is not None:
        return {name: event[name] for name in fields}
    assert array_field is not None
    return {f"f{i}": value for i, value in enumerate(event[array_field])}
