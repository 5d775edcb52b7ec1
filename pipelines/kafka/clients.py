"""Kafka client settings of one member of a pipeline (worker, joiner, job), from its spec."""

from __future__ import annotations

from typing import Any

from streaminfer.pipelines.spec.kafka_settings import client_config
from streaminfer.pipelines.spec.kafka_spec import KafkaSpec


def member_config(kafka: KafkaSpec, bootstrap_servers: str, member: str) -> dict[str, Any]:
    """kafka-python settings (security and secrets from the environment, timeouts) with the
    member's own ``client_id`` (``<kafka.client_id>-<member>``)."""
    config = client_config(kafka, bootstrap_servers)
    config["client_id"] = f"{kafka.client_id}-{member}"
    return config
