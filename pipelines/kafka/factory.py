"""The one place Kafka clients are built: consumers, producers and admin clients.

Every module that talks to Kafka builds its clients here, from a settings dict made by
``pipelines.spec.kafka_settings.client_config`` (bootstrap servers, security with secrets from
the environment, request timeout). A broker that cannot be reached is one
:class:`~streaminfer.errors.BrokerError` naming where it was looked for. (It lives beside the
Kafka source and sink, below the pipelines, so that both layers can use it;
``pipelines/kafka`` is its public face.)
"""

from __future__ import annotations

from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError

from streaminfer.errors import BrokerError


def _unreachable(config: dict[str, Any], exc: KafkaError) -> BrokerError:
    servers = config.get("bootstrap_servers") or "?"
    if not isinstance(servers, str):
        servers = ",".join(servers)
    return BrokerError(
        f"cannot reach Kafka at {servers} (kafka.bootstrap_servers): {type(exc).__name__}. "
        "Is the broker running? For local development use bootstrap_servers: embedded, or "
        "start one with `streaminfer broker`"
    )


def new_consumer(config: dict[str, Any], *, group_id: str | None = None,
                 **options: Any) -> KafkaConsumer:
    """A consumer that never commits on its own; ``group_id=None`` joins no group."""
    try:
        return KafkaConsumer(**config, group_id=group_id, enable_auto_commit=False, **options)
    except KafkaError as exc:
        raise _unreachable(config, exc) from None


def new_producer(config: dict[str, Any], **options: Any) -> KafkaProducer:
    """A producer that waits for every in-sync replica (``acks=all``) unless told otherwise."""
    try:
        return KafkaProducer(**{"acks": "all", **config, **options})
    except KafkaError as exc:
        raise _unreachable(config, exc) from None


def new_admin(config: dict[str, Any], *, timeout_s: float = 5.0) -> KafkaAdminClient:
    """An admin client that gives up connecting after ``timeout_s``."""
    try:
        return KafkaAdminClient(**config, bootstrap_timeout_ms=int(timeout_s * 1000))
    except KafkaError as exc:
        raise _unreachable(config, exc) from None
