"""Exact offset ranges of a topic on the embedded broker, whose end_offsets() reads short."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from streaminfer.pipelines.kafka.range_reader import read_range

pytestmark = pytest.mark.integration


def test_every_record_up_to_the_high_watermark_and_no_more(
    kafka_config: dict[str, Any], topic_factory: Callable[..., str],
    produce: Callable[..., None],
) -> None:
    topic = topic_factory(partitions=3, prefix="range")
    for batch in range(5):  # several record batches per partition; partition 2 stays empty
        for partition in (0, 1):
            produce(topic, [f"{partition}-{batch}-{i}".encode() for i in range(100)],
                    partition=partition)
    records, span = read_range(kafka_config, topic)
    assert span.offsets == {0: (0, 500), 1: (0, 500), 2: (0, 0)}
    assert len(records) == 1_000
    assert [r.offset for r in records if r.partition == 0] == list(range(500))

    part, span = read_range(kafka_config, topic, start={0: 450, 1: 500}, end={0: 480})
    assert span.offsets == {0: (450, 480), 1: (500, 500), 2: (0, 0)}
    assert [(r.partition, r.offset) for r in part] == [(0, o) for o in range(450, 480)]
    assert span.as_dict() == {"topic": topic, "partitions": {
        "0": [450, 480], "1": [500, 500], "2": [0, 0]}}
