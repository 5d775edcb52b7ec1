"""Where ``streaminfer validate`` gets its labelled rows: a file, or a range of a topic."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pyarrow as pa

from streaminfer.errors import ConfigError, DataError
from streaminfer.operators.labelled_rows import LabelledRows, labelled_rows, read_table
from streaminfer.operators.topic_range import PREFIX, parse_range, read_range
from streaminfer.pipelines.spec.kafka_settings import client_config
from streaminfer.pipelines.spec.schema import PipelineSpec


def load_rows(
    spec: PipelineSpec, data: str, *, label_field: str = "label",
    bootstrap_servers: str | None = None, progress: Callable[[int], None] | None = None,
) -> LabelledRows:
    """The labelled rows of ``data``: a CSV/JSONL/Parquet path, or ``topic:NAME[:START-END]``
    read from the config's Kafka (or ``bootstrap_servers``)."""
    if data.startswith(PREFIX):
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
    topic, start, end = parse_range(data)
    servers = bootstrap_servers or spec.kafka.bootstrap_servers
    if servers == "embedded":
        raise ConfigError("the config's broker is the embedded one, which lives only as long "
                          "as its pipeline: give --bootstrap-servers of the running broker")
    config = client_config(spec.kafka, servers)
    rows: list[dict[str, Any]] = []
    for record in read_range(config, topic, start, end, progress=progress):
        try:
            value = orjson.loads(record.value or b"")
        except orjson.JSONDecodeError as exc:
            raise DataError(f"{topic}/{record.partition}@{record.offset}: not JSON "
                            f"({exc})") from None
        if not isinstance(value, dict):
            raise DataError(f"{topic}/{record.partition}@{record.offset}: not a JSON object")
        rows.append(value)
    if not rows:
        raise DataError(f"{data}: no records in that range")
    return pa.Table.from_pylist(rows)
