"""The ``kafka`` section of a pipeline YAML: where Kafka is, how to authenticate."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from streaminfer.pipelines.spec.base import FrozenModel

EMBEDDED = "embedded"
#: Default fetch waits: Kafka answers as soon as data arrives; the embedded broker holds a
#: fetch until the wait runs out, and gives it up then (docs/operations.md).
FETCH_MAX_WAIT_MS = 10
EMBEDDED_FETCH_MAX_WAIT_MS = 500
#: The fields of ``kafka.security`` that name files (relative to the YAML's folder).
TLS_FIELDS = ("ssl_cafile", "ssl_certfile", "ssl_keyfile")


class SecuritySpec(FrozenModel):
    """How to authenticate to Kafka. Secrets are read from environment variables, never YAML."""

    protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="Kafka security.protocol."
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        None, description="SASL mechanism; required when protocol is SASL_*."
    )
    sasl_username_env: str | None = Field(
        None, description="Name of the environment variable that holds the SASL username."
    )
    sasl_password_env: str | None = Field(
        None, description="Name of the environment variable that holds the SASL password."
    )
    ssl_cafile: Path | None = Field(None, description="CA bundle to verify the brokers.")
    ssl_certfile: Path | None = Field(None, description="Client certificate (mutual TLS).")
    ssl_keyfile: Path | None = Field(None, description="Client private key (mutual TLS).")
    ssl_password_env: str | None = Field(
        None, description="Name of the environment variable that holds the key's password."
    )

    @model_validator(mode="after")
    def _sasl_complete(self) -> SecuritySpec:
        if self.protocol.startswith("SASL") and not (
            self.sasl_mechanism and self.sasl_username_env and self.sasl_password_env
        ):
            raise ValueError(
                f"protocol {self.protocol} needs sasl_mechanism, sasl_username_env and "
                "sasl_password_env (the names of environment variables, not the secrets)"
            )
        return self


    def tls_files(self) -> dict[str, Path]:
        """The TLS files given, by field name."""
        return {key: getattr(self, key) for key in TLS_FIELDS if getattr(self, key) is not None}


class EmbeddedBrokerSpec(FrozenModel):
    """The in-memory development broker started when bootstrap_servers is 'embedded'."""

    host: str = Field("127.0.0.1", description="Address to listen on (loopback by default).")
    port: int = Field(0, ge=0, le=65535, description="Port to listen on; 0 picks a free one.")


class KafkaSpec(FrozenModel):
    """Where Kafka is and how clients talk to it."""

    bootstrap_servers: str = Field(
        EMBEDDED,
        description="Comma-separated host:port list, or 'embedded' to start the in-memory "
        "development broker (its data is lost when the pipeline stops).",
    )
    client_id: str = Field("streaminfer", description="Kafka client.id prefix.")
    client: Literal["kafka-python", "confluent"] = Field(
        "kafka-python",
        description="The Kafka client of the source workers: 'kafka-python' (pure Python), or "
        "'confluent' (confluent-kafka, librdkafka in C: less CPU per event). Same semantics "
        "(commit after acks, revoke, dead-letter headers); joiners and batch jobs use "
        "kafka-python.",
    )
    security: SecuritySpec = Field(default_factory=SecuritySpec, description="Authentication.")
    embedded: EmbeddedBrokerSpec = Field(
        default_factory=EmbeddedBrokerSpec, description="Settings of the embedded broker."
    )
    create_missing_topics: bool = Field(
        True, description="Create the source, predictions and dead-letter topics if missing."
    )
    session_timeout_ms: int = Field(
        10_000,
        ge=1_000,
        le=300_000,
        description="Consumer group session timeout: how long a dead worker keeps its partitions.",
    )
    heartbeat_interval_ms: int = Field(
        1_000, ge=100, le=60_000,
        description="Consumer heartbeat interval (at most a third of the session timeout).",
    )
    request_timeout_ms: int = Field(
        30_000, ge=1_000, le=300_000, description="Client request timeout."
    )

    @field_validator("bootstrap_servers")
    @classmethod
    def _servers_form(cls, value: str) -> str:
        value = value.strip()
        if value == EMBEDDED:
            return value
        for server in value.split(","):
            if not re.fullmatch(r"[^\s:,]+:\d{1,5}", server.strip()):
                raise ValueError(
                    f"{server.strip()!r} is not host:port; give 'host:port[,host:port...]' "
                    f"or '{EMBEDDED}'"
                )
        return value

    @model_validator(mode="after")
    def _heartbeat_below_session(self) -> KafkaSpec:
        if self.heartbeat_interval_ms * 3 > self.session_timeout_ms:
            raise ValueError(
                "heartbeat_interval_ms must be at most a third of session_timeout_ms"
            )
        return self

    @property
    def is_embedded(self) -> bool:
        return self.bootstrap_servers == EMBEDDED

