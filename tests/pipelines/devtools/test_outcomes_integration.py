"""The demo's books on the session's real broker: nothing written before a stop is missing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

from streaminfer.pipelines.devtools.outcomes import OutcomeCollector
from streaminfer.pipelines.kafka.topic_reader import TopicReader

pytestmark = pytest.mark.integration


def prediction(i: int) -> bytes:
    return orjson.dumps({"id": f"e{i}", "latency_ms": 5, "label": i % 2})


def test_a_collector_stopped_right_after_the_last_outputs_counts_them_all(
    kafka_config: dict[str, Any], topic_factory: Callable[..., str],
    produce: Callable[..., None],
) -> None:
    # The demo stops its collector once the pipeline has stopped; a collector caught up and
    # waiting for its next read used to stop there, and the books called the last
    # predictions missing (77 in a 10-minute demo).
    predictions, dead = topic_factory(2), topic_factory(1)
    collector = OutcomeCollector(kafka_config, predictions, dead, label_field="label")
    collector.start()
    keys = [b"evt-%08d" % i for i in range(300)]
    produce(predictions, [prediction(i) for i in range(100)], keys[:100])
    produce(predictions, [prediction(i) for i in range(100, 290)], keys[100:290])
    produce(dead, [b"not json"] * 10, keys[290:])
    collector.stop_event.set()
    collector.join(60)
    assert not collector.is_alive()
    out = collector.outcomes
    assert (out.predicted.unique, out.dead.unique, out.predicted.duplicates) == (290, 10, 0)
    assert sum(out.classes.values()) == 290


def test_read_to_end_reads_what_is_left_up_to_the_end_as_of_the_call(
    kafka_config: dict[str, Any], topic_factory: Callable[..., str],
    produce: Callable[..., None],
) -> None:
    topic = topic_factory(3)
    produce(topic, [b"%d" % i for i in range(50)], [b"k%d" % i for i in range(50)])
    with TopicReader(kafka_config, [topic]) as reader:
        first = reader.read(10, 30)
        rest = reader.read_to_end()
        assert len(first) + len(rest) == 50
        assert sorted(r.value for r in first + rest) == sorted(b"%d" % i for i in range(50))
        assert reader.read_to_end() == []  # nothing new: nothing more
