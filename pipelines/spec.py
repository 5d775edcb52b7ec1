"""The pipeline YAML schema: frozen pydantic models that forbid unknown keys.

One schema for every pipeline. ``streaminfer validate-config FILE`` checks a file against it, and
``streaminfer schema`` prints it. Paths in a file are relative to that file's folder.

>>> from streaminfer.pipelines.spec import PipelineSpec
>>> spec = PipelineSpec.model_validate({
...     "name": "demo",
...     "source": {"topics": ["events"], "group_id": "g", "features": ["a", "b"]},
...     "model": {"path": "model.onnx"},
...     "sink": {"predictions_topic": "preds", "dead_letter_topic": "dlq"},
... })
>>> spec.batching.max_size
256
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

EMBEDDED = "embedded"

ProviderName = Literal[
    "CUDAExecutionProvider", "TensorrtExecutionProvider", "CPUExecutionProvider"
]
TopicName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=249,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="A Kafka topic name: letters, digits, '.', '_' and '-'.",
    ),
]


class _Frozen(BaseModel):
    """Base of every config model: immutable, and an unknown key is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


class SecuritySpec(_Frozen):
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


class EmbeddedBrokerSpec(_Frozen):
    """The in-memory development broker started when bootstrap_servers is 'embedded'."""

    host: str = Field("127.0.0.1", description="Address to listen on (loopback by default).")
    port: int = Field(0, ge=0, le=65535, description="Port to listen on; 0 picks a free one.")


class KafkaSpec(_Frozen):
    """Where Kafka is and how clients talk to it."""

    bootstrap_servers: str = Field(
        EMBEDDED,
        description="Comma-separated host:port list, or 'embedded' to start the in-memory "
        "development broker (its data is lost when the pipeline stops).",
    )
    client_id: str = Field("streaminfer", description="Kafka client.id prefix.")
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


class SourceSpec(_Frozen):
    """The input topics and how an event becomes a feature row."""

    topics: tuple[TopicName, ...] = Field(
        min_length=1, description="Topics to consume events from."
    )
    group_id: str = Field(min_length=1, description="Kafka consumer group shared by the workers.")
    codec: Literal["json"] = Field("json", description="How event values are decoded.")
    id_field: str | None = Field(
        None, description="Event field that identifies it; without it topic/partition/offset."
    )
    features: tuple[str, ...] | None = Field(
        None, min_length=1, description="Event fields that form the feature row, in model order."
    )
    features_field: str | None = Field(
        None, description="Alternatively: one event field holding the whole feature array."
    )
    event_time_field: str | None = Field(
        None, description="Event field with the event time (epoch ms), copied to predictions."
    )
    max_poll_records: int = Field(
        500, ge=1, le=100_000, description="Most records one poll returns."
    )
    fetch_max_wait_ms: int = Field(
        10, ge=0, le=10_000,
        description="Longest the broker may hold a fetch that has no data. Low values cut "
        "latency on brokers that park fetches (the embedded one does); Kafka answers "
        "as soon as data arrives, so there it only costs idle requests.",
    )
    max_record_bytes: int = Field(
        1_048_576, ge=16, description="Records larger than this go to the dead-letter topic."
    )
    auto_offset_reset: Literal["earliest", "latest"] = Field(
        "earliest", description="Where a group without committed offsets starts."
    )
    partitions: int = Field(
        4, ge=1, le=10_000, description="Partitions of a source topic that streaminfer creates."
    )

    @model_validator(mode="after")
    def _one_feature_source(self) -> SourceSpec:
        if (self.features is None) == (self.features_field is None):
            raise ValueError(
                "give exactly one of 'features' (a list of event fields) or 'features_field' "
                "(one field holding an array)"
            )
        if self.features is not None and len(set(self.features)) != len(self.features):
            raise ValueError("'features' lists a field twice")
        return self


class ModelSpec(_Frozen):
    """The ONNX model that scores each event."""

    path: Path = Field(description="ONNX model file (relative to this YAML file's folder).")
    name: str | None = Field(None, description="Model name in predictions; default: file stem.")
    version: str | None = Field(
        None, description="Model version in predictions; default: first 12 hex of its sha256."
    )
    sha256: str | None = Field(
        None,
        pattern=r"^[0-9a-fA-F]{64}$",
        description="Expected sha256 of the file (64 hex digits); the model is refused if "
        "it differs. Without it, a '<file>.sha256' beside the model is checked if present.",
    )
    providers: Literal["auto"] | tuple[ProviderName, ...] = Field(
        "auto",
        description="'auto' (CUDA when a usable GPU is present, else CPU) or an explicit list.",
    )
    input_name: str | None = Field(
        None, description="Model input that receives the features; default: the only input."
    )
    outputs: dict[str, str] | None = Field(
        None,
        description="Model outputs to publish, as {onnx_output_name: prediction_field}; "
        "default: every output under its own name.",
    )
    intra_op_threads: int = Field(
        1, ge=0, le=256, description="ONNX Runtime intra-op threads per session (0 = all cores)."
    )


class BatchingSpec(_Frozen):
    """Micro-batching: a batch closes at max_size events or max_wait_ms after its first event."""

    max_size: int = Field(256, ge=1, le=65_536, description="Most events in one model call.")
    max_wait_ms: int = Field(
        10, ge=0, le=60_000, description="Longest an event waits for its batch to fill."
    )


class SinkSpec(_Frozen):
    """Where predictions and dead letters go."""

    predictions_topic: TopicName = Field(
        description="Topic that receives one prediction per event."
    )
    dead_letter_topic: TopicName = Field(
        description="Topic that receives every event that could not be scored, with the reason."
    )
    partitions: int | None = Field(
        None, ge=1, le=10_000, description="Partitions of sink topics streaminfer creates; "
        "default: as many as the first source topic."
    )
    linger_ms: int = Field(2, ge=0, le=10_000, description="Producer linger.ms.")
    compression: Literal["none", "gzip", "lz4", "zstd", "snappy"] = Field(
        "none", description="Producer compression."
    )


class WorkersSpec(_Frozen):
    """Source workers: Ray actors that each own a share of the partitions."""

    count: int = Field(1, ge=1, le=1_024, description="Number of source worker actors.")
    num_cpus: float = Field(1.0, ge=0, description="CPUs Ray reserves for each worker.")
    num_gpus: float = Field(
        0.0, ge=0,
        description="GPUs (fractions allowed) Ray reserves for each worker; with model.providers "
        "auto, a worker given a GPU runs the model on CUDA in-process.",
    )
    max_restarts: int = Field(
        3, ge=-1, description="Times Ray restarts a worker that died (-1: without limit)."
    )


class MetricsSpec(_Frozen):
    """The Prometheus endpoint served by the driver."""

    enabled: bool = Field(True, description="Serve Prometheus metrics.")
    host: str = Field("127.0.0.1", description="Address to bind (loopback by default).")
    port: int = Field(9464, ge=0, le=65535, description="Port to bind; 0 picks a free one.")


class RaySpec(_Frozen):
    """Which Ray to run on."""

    address: str | None = Field(
        None, description="Ray address (e.g. ray://head:10001); default: start a local Ray."
    )
    namespace: str = Field("streaminfer", description="Ray namespace of the named actors.")


class PipelineSpec(_Frozen):
    """One scoring pipeline: Kafka source -> ONNX model -> Kafka sink, on Ray."""

    name: str = Field(
        pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
        description="Pipeline name: lowercase letters, digits and '-' (used in actor names).",
    )
    kafka: KafkaSpec = Field(default_factory=KafkaSpec, description="Kafka connection.")
    source: SourceSpec = Field(description="Input topics and feature mapping.")
    model: ModelSpec = Field(description="The ONNX model.")
    batching: BatchingSpec = Field(default_factory=BatchingSpec, description="Micro-batching.")
    sink: SinkSpec = Field(description="Output topics.")
    workers: WorkersSpec = Field(default_factory=WorkersSpec, description="Source workers.")
    delivery: Literal["at_least_once"] = Field(
        "at_least_once",
        description="Delivery guarantee: offsets are committed only after every prediction "
        "of the batch was acknowledged by the broker.",
    )
    metrics: MetricsSpec = Field(default_factory=MetricsSpec, description="Prometheus metrics.")
    ray: RaySpec = Field(default_factory=RaySpec, description="Ray cluster.")

    @model_validator(mode="after")
    def _distinct_topics(self) -> PipelineSpec:
        outputs = {self.sink.predictions_topic, self.sink.dead_letter_topic}
        if len(outputs) != 2:
            raise ValueError("sink.predictions_topic and sink.dead_letter_topic must differ")
        if outputs & set(self.source.topics):
            raise ValueError("a sink topic is also a source topic: the pipeline would loop")
        return self

    def with_overrides(
        self, *, workers: int | None = None, ray_address: str | None = None
    ) -> PipelineSpec:
        """A copy with command-line overrides applied (``None`` keeps the YAML's value)."""
        spec = self
        if workers is not None:
            spec = spec.model_copy(
                update={"workers": spec.workers.model_copy(update={"count": workers})}
            )
        if ray_address is not None:
            spec = spec.model_copy(
                update={"ray": spec.ray.model_copy(update={"address": ray_address})}
            )
        return spec

    def resolve_paths(self, base: Path) -> PipelineSpec:
        """Return a copy whose relative paths are made absolute against ``base``."""
        model = self.model.model_copy(update={"path": _absolute(self.model.path, base)})
        sec = self.kafka.security
        security = sec.model_copy(
            update={
                key: _absolute(getattr(sec, key), base)
                for key in ("ssl_cafile", "ssl_certfile", "ssl_keyfile")
                if getattr(sec, key) is not None
            }
        )
        kafka = self.kafka.model_copy(update={"security": security})
        return self.model_copy(update={"model": model, "kafka": kafka})


def _absolute(path: Path, base: Path) -> Path:
    path = Path(os.path.expanduser(path))
    return path if path.is_absolute() else (base / path).resolve()
