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
    return default_id(record.topic, record.partition, record.offset)


def default_id(topic: str, partition: int, offset: int) -> str:
    """The id of an event without an id field: where it was read."""
    return f"{topic}/{partition}/{offset}"


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
    return prediction_fields(
        event_id=event_id, model=model, model_version=model_version, outputs=outputs,
        latency_ms=now_ms - record.timestamp,
        source={"topic": record.topic, "partition": record.partition, "offset": record.offset},
        ts=now_ms, event_time=event_time, features=features,
    )


def prediction_fields(
    *, event_id: Any, model: Any, model_version: Any, outputs: dict[str, Any],
    latency_ms: Any, source: Any, ts: Any, event_time: Any = None, features: Any = None,
) -> dict[str, Any]:
    """The fields of a prediction, named and ordered by the contract (``event_time`` and
    ``features`` only when given): the values of one prediction (:func:`prediction`), or a
    column per field for many (``operators/arrow_scoring.py``).

    >>> list(prediction_fields(event_id=1, model="m", model_version="2", outputs={"y": 0},
    ...                        latency_ms=3, source={}, ts=4, event_time=5))
    ['id', 'model', 'model_version', 'y', 'latency_ms', 'source', 'ts', 'event_time']
    """
    # one display, the outputs' keys where update() would put them (an output named like a
    # field before it takes its place)
    value: dict[str, Any] = {"id": event_id, "model": model, "model_version": model_version,
                             **outputs, "latency_ms": latency_ms, "source": source, "ts": ts}
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
