"""Broker checks and topic creation, done once by the driver before workers start."""

from __future__ import annotations

import contextlib
from collections import Counter
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from streaminfer.errors import BrokerError
from streaminfer.operators.topic_metadata import wait_for_partitions


def admin_client(config: dict[str, Any], timeout_s: float = 5.0) -> KafkaAdminClient:
    """An admin client, or one clear :class:`BrokerError` when Kafka cannot be reached."""
    try:
        return KafkaAdminClient(**config, bootstrap_timeout_ms=int(timeout_s * 1000))
    except KafkaError as exc:
        servers = ",".join(config["bootstrap_servers"])
        raise BrokerError(
            f"cannot reach Kafka at {servers} (kafka.bootstrap_servers): "
            f"{type(exc).__name__}. Is the broker running? For local development use "
            "bootstrap_servers: embedded, or start one with `streaminfer broker`"
        ) from None


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
    consumer = KafkaConsumer(**config, group_id=None, enable_auto_commit=False)
    try:
        partitions = wait_for_partitions(consumer, topics, timeout_s)
        return dict(Counter(tp.topic for tp in partitions))
    finally:
        consumer.close(autocommit=False)
