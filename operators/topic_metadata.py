"""Wait for a topic's partitions to show in a consumer's metadata."""

from __future__ import annotations

import time

from kafka import KafkaConsumer, TopicPartition

from streaminfer.errors import BrokerError


def wait_for_partitions(
    consumer: KafkaConsumer, topics: list[str], timeout_s: float
) -> list[TopicPartition]:
    """Every partition of ``topics``, in order; raises :class:`BrokerError` for a topic the
    broker does not show within ``timeout_s`` (all topics share the one deadline)."""
    partitions: list[TopicPartition] = []
    deadline = time.monotonic() + timeout_s
    for topic in topics:
        ids = consumer.partitions_for_topic(topic)
        while not ids and time.monotonic() < deadline:
            consumer.poll(timeout_ms=100)  # drives a metadata refresh
            ids = consumer.partitions_for_topic(topic)
        if not ids:
            raise BrokerError(f"topic {topic} does not exist (waited {timeout_s:.0f}s)")
        partitions += [TopicPartition(topic, p) for p in sorted(ids)]
    return partitions
