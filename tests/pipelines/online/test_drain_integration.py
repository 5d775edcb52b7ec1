"""Pipeline.drain on a pipeline with its own embedded broker: the workers finish, the broker
stays up to be read, and stop gives the same final counts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from kafka import KafkaProducer

from streaminfer import Pipeline
from streaminfer.pipelines.devtools.example_models import Dataset
from streaminfer.pipelines.kafka.topic_reader import TopicReader
from streaminfer.waiting import wait_until
from tests.fixtures.streams import events_of

pytestmark = pytest.mark.integration


def test_drain_finishes_the_workers_and_leaves_the_embedded_broker_up_until_stop(
    ray_session: None, pipeline_spec_factory: Callable[..., Any],
    dataset_factory: Callable[[str], Dataset],
) -> None:
    spec = pipeline_spec_factory(partitions=2, kafka={"bootstrap_servers": "embedded"})
    pipeline = Pipeline(spec).start().wait_ready(timeout_s=60)
    try:
        config = {"bootstrap_servers": pipeline.bootstrap_servers}
        producer = KafkaProducer(**config, acks="all", linger_ms=5)
        keys, values = events_of(dataset_factory("breast_cancer"), 500)
        for key, value in zip(keys, values, strict=True):
            producer.send(spec.source.topics[0], key=key, value=value)
        producer.flush()
        producer.close()
        assert wait_until(lambda: pipeline.stats().events_in == 500, 60)
        drained = pipeline.drain()
        assert drained.predictions == 500
        # The workers are gone and the broker is not: everything they wrote is there to read.
        with TopicReader(config, [spec.sink.predictions_topic]) as reader:
            assert len(reader.read_to_end()) == 500
        assert pipeline.drain() is drained  # a second drain changes nothing
    finally:
        final = pipeline.stop()
    assert final.predictions == drained.predictions == 500
