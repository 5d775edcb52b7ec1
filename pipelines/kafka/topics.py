"""Broker checks and topic creation, done once by the driver before workers start."""

from __future__ import annotations

import contextlib
from collections import Counter
from typing import Any

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from streaminfer.errors import BrokerError
from streaminfer.pipelines.kafka.factory import new_admin, new_consumer
from streaminfer.pipelines.kafka.topic_metadata import wait_for_partitions


def admin_client(config: dict[str, Any], timeout_s: float = 5.0) -> KafkaAdminClient:
    """An admin client, or one clear :class:`BrokerError` when Kafka cannot be reached."""
    return new_admin(config, timeout_s=timeout_s)


def ensure_topics(
    config: dict[str, Any], wanted: dict[str, int], *, create_missing: bool,
    timeout_s: float = 15.0,
) -> dict[str, int]:
    """Make sure each topic exists (creating it with the given partitions if allowed).

    Returns the partition count of every topic.
    """
    admin = admin_client(config)
    try:
        existing = set(admin.list_topics())
        missing = {name: parts for name, parts in wanted.items() if name not in existing}
        if missing and not create_missing:
            raise BrokerError(
                f"topic(s) {', '.join(sorted(missing))} do not exist; create them or set "
                "kafka.create_missing_topics: true"
            )
        for name, parts in missing.items():
            with contextlib.suppress(TopicAlreadyExistsError):  # made meanwhile: fine
                admin.create_topics([NewTopic(name, parts, 1)])
    finally:
        admin.close()
    return partition_counts(config, list(wanted), timeout_s)


def partition_counts(config: dict[str, Any], topics: list[str], timeout_s: float) -> dict[str, int]:
    """Partition count per topic, waiting until the broker's metadata shows each one."""
    consumer = new_consumer(config)
    try:
        partitions = wait_for_partitions(consumer, topics, timeout_s)
        return dict(Counter(tp.topic for tp in partitions))
    finally:
        consumer.close(autocommit=False)
