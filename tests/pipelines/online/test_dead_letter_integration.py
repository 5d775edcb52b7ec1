"""Records that kafka-python cannot produce back as they are (a keyless tombstone, a null
header value; CDC producers and librdkafka clients write both) become dead letters on the real
broker, and the worker goes on scoring (before, the first crashed it, again and again)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

from tests.fixtures.poison import keyless_tombstone, null_header_record

pytestmark = pytest.mark.integration


def test_a_keyless_tombstone_and_a_null_header_are_dead_lettered_and_scoring_goes_on(
    pipeline_factory: Callable[..., Any], dataset_factory: Callable[[str], Any],
    make_events: Callable[..., tuple[list[bytes], list[bytes]]],
    produce: Callable[..., None], read_topic: Callable[..., list[Any]],
    kafka_config: dict[str, Any],
) -> None:
    run = pipeline_factory(workers={"count": 1, "max_restarts": 6}, partitions=1)
    cancer = dataset_factory("breast_cancer")
    keys, values = make_events(cancer, 20)
    produce(run.source_topic, values, keys, partition=0)
    keyless_tombstone(kafka_config, run.source_topic)
    null_header_record(kafka_config, run.source_topic, b"nh", b"not json")
    keys, values = make_events(cancer, 20, start=20)
    produce(run.source_topic, values, keys, partition=0)

    letters = read_topic(run.dead_letter_topic, 2)
    predictions = read_topic(run.predictions_topic, 40)
    assert sorted(orjson.loads(p.value)["id"] for p in predictions) == sorted(
        f"e{i}" for i in range(40))
    tombstone, null_header = sorted(letters, key=lambda r: r.key or b"")
    headers = {name: value.decode() for name, value in tombstone.headers}
    assert (tombstone.key, tombstone.value) == (None, b"")
    assert headers["error.type"] == "empty_record"
    assert headers["error.message"] == "empty record (no key, no value)"
    assert headers["source.nulls"] == "value" and headers["source.offset"] == "20"
    headers = {name: value.decode() for name, value in null_header.headers}
    assert (null_header.key, null_header.value) == (b"nh", b"not json")
    assert null_header.headers[0] == ("trace", b"")
    assert headers["error.type"] == "invalid_json" and headers["source.nulls"] == "header:trace"
    final = run.pipeline.stop()
    assert (final.predictions, final.dead_letters, final.restarts) == (40, 2, 0)
