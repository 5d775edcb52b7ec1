"""Where ``streaminfer validate`` gets its labelled rows: a file, or a range of a topic."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pyarrow as pa

from streaminfer.errors import ConfigError, DataError
from streaminfer.operators.labelled_rows import (
    LabelledRows,
    labelled_events,
    labelled_rows,
    read_events,
    read_table,
)
from streaminfer.operators.records import Record
from streaminfer.operators.topic_ranges import (
    Bound,
    RangeError,
    is_topic_source,
    parse_topic_source,
)
from streaminfer.pipelines.kafka.range_reader import read_range
from streaminfer.pipelines.spec.kafka_settings import client_config
from streaminfer.pipelines.spec.schema import PipelineSpec


def load_rows(
    spec: PipelineSpec, data: str, *, label_field: str = "label",
    bootstrap_servers: str | None = None, progress: Callable[[int], None] | None = None,
    as_events: bool = False,
) -> LabelledRows:
    """The labelled rows of ``data``: a CSV/JSONL/Parquet path, or a topic range
    ``kafka:TOPIC[?start=..][&end=..]`` (as ``streaminfer batch`` reads them) from the config's
    Kafka (or ``bootstrap_servers``). ``as_events``: each row as an event, for a model fed
    by ``model.inputs``."""
    if as_events:
        events = (topic_events(spec, data, bootstrap_servers, progress)
                  if is_topic_source(data) else read_events(data))
        return labelled_events(events, label_field, data)
    if is_topic_source(data):
        table = topic_table(spec, data, bootstrap_servers, progress)
        where = data
    else:
        table = read_table(data)
        where = data
    field = spec.source.features_field
    if field is not None and field not in table.column_names and "features" in table.column_names:
        field = "features"  # labelled examples hold the row as a features object
    return labelled_rows(table, spec.source.features, label_field, field, where=where)


def topic_table(spec: PipelineSpec, data: str, bootstrap_servers: str | None,
                progress: Callable[[int], None] | None) -> pa.Table:
    """The JSON records of a topic range as a table (one column per top-level field)."""
    return pa.Table.from_pylist(topic_events(spec, data, bootstrap_servers, progress))


def topic_events(spec: PipelineSpec, data: str, bootstrap_servers: str | None,
                 progress: Callable[[int], None] | None) -> list[dict[str, Any]]:
    """The JSON objects of a topic range, in order."""
    rows: list[dict[str, Any]] = []
    for record in topic_records(spec, data, bootstrap_servers, progress):
        try:
            value = orjson.loads(record.value or b"")
        except orjson.JSONDecodeError as exc:
            raise DataError(f"{record.topic}/{record.partition}@{record.offset}: not JSON "
                            f"({exc})") from None
        if not isinstance(value, dict):
            raise DataError(f"{record.topic}/{record.partition}@{record.offset}: not a JSON "
                            "object")
        rows.append(value)
    if not rows:
        raise DataError(f"{data}: no records in that range")
    return rows


def topic_records(spec: PipelineSpec, data: str, bootstrap_servers: str | None,
                  progress: Callable[[int], None] | None = None) -> list[Record]:
    """The records of a topic range ``kafka:TOPIC?start=S&end=E`` from the config's Kafka (or
    ``bootstrap_servers``)."""
    try:
        request = parse_topic_source(data)
    except RangeError as exc:
        raise DataError(str(exc)) from None
    start, end = _offsets(request.start, data), _offsets(request.end, data)
    if isinstance(start, int) and isinstance(end, int) and end < start:
        raise DataError(f"{data!r}: the range ends before it starts")
    config = client_config(spec.kafka, broker_address(spec, bootstrap_servers))
    records, _ = read_range(config, request.topic, start=start, end=end, progress=progress)
    return records


def broker_address(spec: PipelineSpec, bootstrap_servers: str | None) -> str:
    """``bootstrap_servers``, else the config's; the embedded one cannot be reached here."""
    servers = bootstrap_servers or spec.kafka.bootstrap_servers
    if servers == "embedded":
        raise ConfigError("the config's broker is the embedded one, which lives only as long "
                          "as its pipeline: give --bootstrap-servers of the running broker")
    return servers


def _offsets(bound: Bound, data: str) -> dict[int, int] | int | None:
    """A bound as read_range takes it: ``None`` for earliest/latest, one offset for every
    partition, or offsets by partition."""
    if bound.kind in ("earliest", "latest"):
        return None
    if bound.kind == "time":
        raise DataError(f"{data}: validate reads offset ranges; time bounds are for "
                        "`streaminfer batch`")
    if set(bound.offsets) == {-1}:
        return bound.offsets[-1]
    return dict(bound.offsets)
