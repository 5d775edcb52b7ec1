"""Reading back the ids on a joiner's partitions of the training topic, on the real broker:
exactly from the restore start to the high watermark (whose ``end_offsets()`` answers a record
batch short), only the partitions asked for, records without an id skipped."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from streaminfer.pipelines.runtime.joiner import example_id
from streaminfer.pipelines.runtime.joiner_restore import read_published

pytestmark = pytest.mark.integration


def test_read_published_reads_exactly_to_the_high_watermark(
    topic_factory: Any, produce: Any, kafka_config: dict[str, Any],
) -> None:
    topic = topic_factory(2, prefix="examples")
    for batch in range(4):  # several record batches: end_offsets() would stop before the last
        ids = [f"e{batch * 50 + i}" for i in range(50)]
        produce(topic, [orjson.dumps({"id": i, "label": 1}) for i in ids], partition=1)
    produce(topic, [b"not json", orjson.dumps({"no": "id"})], partition=1)
    produce(topic, [orjson.dumps({"id": "other"})], partition=0)

    restored = read_published(kafka_config, topic, {1: 30}, example_id)
    assert restored.ids == {f"e{i}" for i in range(30, 200)}
    assert restored.starts == {1: 30} and restored.ends == {1: 202}
    assert restored.examples == 172

    both = read_published(kafka_config, topic, {0: 0, 1: 202}, example_id)
    assert both.ids == {"other"} and both.ends == {0: 1, 1: 202}
    assert read_published(kafka_config, topic, {}, example_id).ids == set()
