"""Kafka client settings (from the pipeline spec) shared by consumers, producers, admins."""

from __future__ import annotations

import os
from typing import Any

from streaminfer.errors import ConfigError
from streaminfer.pipelines.spec.kafka_spec import KafkaSpec


def client_config(kafka: KafkaSpec, bootstrap_servers: str) -> dict[str, Any]:
    """kafka-python settings for ``bootstrap_servers``; secrets come from the environment."""
    sec = kafka.security
    config: dict[str, Any] = {
        "bootstrap_servers": [s.strip() for s in bootstrap_servers.split(",")],
        "client_id": kafka.client_id,
        "security_protocol": sec.protocol,
        "request_timeout_ms": kafka.request_timeout_ms,
    }
    if sec.protocol.startswith("SASL"):
        config["sasl_mechanism"] = sec.sasl_mechanism
        config["sasl_plain_username"] = _secret(sec.sasl_username_env, "sasl_username_env")
        config["sasl_plain_password"] = _secret(sec.sasl_password_env, "sasl_password_env")
    if sec.protocol.endswith("SSL"):
        config.update((key, str(path)) for key, path in sec.tls_files().items())
        if sec.ssl_password_env:
            config["ssl_password"] = _secret(sec.ssl_password_env, "ssl_password_env")
    return config


def _secret(env_name: str | None, field: str) -> str:
    if not env_name:
        raise ConfigError(f"kafka.security.{field} is required for this protocol")
    value = os.environ.get(env_name)
    if value is None:
        raise ConfigError(
            f"kafka.security.{field} names the environment variable {env_name}, which is not "
            f"set; export {env_name}=... before starting the pipeline"
        )
    return value
