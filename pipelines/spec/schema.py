"""The pipeline YAML schema: frozen pydantic models that forbid unknown keys.

One schema for every pipeline. ``streaminfer validate-config FILE`` checks a file against it, and
``streaminfer schema`` prints it. Paths in a file are relative to that file's folder.

>>> from streaminfer.pipelines.spec.schema import PipelineSpec
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
#: Default fetch waits: Kafka answers as soon as data arrives; the embedded broker holds a
#: fetch until the wait runs out, and gives it up then (docs/operations.md).
FETCH_MAX_WAIT_MS = 10
EMBEDDED_FETCH_MAX_WAIT_MS = 500

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


def _whole_above_one(value: float) -> float:
    """Ray shares one GPU by fractions, but more than one must be whole GPUs."""
    if value > 1 and not float(value).is_integer():
        raise ValueError(f"{value:g} GPUs: a fraction shares one GPU; above 1 give whole GPUs")
    return value


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
    fetch_max_wait_ms: int | None = Field(
        None, ge=1, le=10_000,
        description="Longest the broker may hold a fetch that has no data. Default: 10 ms, "
        "or 500 ms on the embedded broker. Kafka answers as soon as data arrives, so there "
        "it only sets how often idle partitions are asked. The embedded broker answers a "
        "waiting fetch only when this runs out (low values cut latency) and gives a fetch up "
        "after it, while reading a partition costs ~0.6 us per record batch it holds: at "
        "10 ms it freezes within ~2 minutes under producers at their default settings, at "
        "500 ms it lasted the 5 measured (docs/operations.md).",
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


class ServeSpec(_Frozen):
    """Ray Serve replicas of a model (``model.serving: serve``), autoscaled by Serve."""

    min_replicas: int = Field(1, ge=1, le=1_000, description="Fewest replicas.")
    max_replicas: int = Field(1, ge=1, le=1_000, description="Most replicas.")
    initial_replicas: int | None = Field(
        None, ge=1, le=1_000, description="Replicas at start; default: min_replicas."
    )
    target_ongoing_requests: float = Field(
        2.0, gt=0, description="Serve adds replicas when requests per replica exceed this."
    )
    max_ongoing_requests: int = Field(
        8, ge=1, description="Requests one replica takes at once; more wait in the caller."
    )
    upscale_delay_s: float = Field(
        3.0, ge=0, description="How long the load must stay high before Serve adds a replica."
    )
    downscale_delay_s: float = Field(
        30.0, ge=0, description="How long the load must stay low before Serve removes one."
    )
    num_cpus: float = Field(1.0, ge=0, description="CPUs Ray reserves for each replica.")
    num_gpus: float = Field(
        0.0, ge=0,
        description="GPUs (fractions allowed, e.g. 0.25 shares one GPU by four replicas) Ray "
        "reserves for each replica; a replica given one runs the model with CUDA.",
    )
    accelerator_type: str | None = Field(
        None, description="Ray accelerator type the replicas need, e.g. 'H100' or 'A10G'."
    )
    max_batch_size: int = Field(
        8, ge=1, le=4_096,
        description="Requests (each a whole micro-batch from a worker, or one HTTP call) a "
        "replica merges into one model run (@serve.batch).",
    )
    batch_wait_timeout_s: float = Field(
        0.0, ge=0, le=10,
        description="Longest a request waits for others to join its run (0: run what has "
        "arrived; more can help a GPU, where bigger runs cost little more).",
    )
    max_in_flight: int = Field(
        2, ge=1, le=64,
        description="Micro-batches one source worker may have at the replicas at once; when "
        "that many are pending, the worker stops polling (backpressure).",
    )
    request_timeout_s: float = Field(
        30.0, gt=0, description="Longest a worker waits for one model call before retrying it."
    )
    request_retries: int = Field(
        5, ge=0, le=100,
        description="Times a worker retries a model call whose replica died or timed out.",
    )

    _gpus = field_validator("num_gpus")(_whole_above_one)

    @model_validator(mode="after")
    def _replica_bounds(self) -> ServeSpec:
        if self.min_replicas > self.max_replicas:
            raise ValueError("min_replicas is more than max_replicas")
        initial = self.initial_replicas
        if initial is not None and not self.min_replicas <= initial <= self.max_replicas:
            raise ValueError("initial_replicas must lie between min_replicas and max_replicas")
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
    serving: Literal["colocated", "serve"] = Field(
        "colocated",
        description="'colocated': each source worker runs the model in-process (fastest for "
        "small models); 'serve': Ray Serve replicas run it (GPUs, autoscaling, HTTP).",
    )
    serve: ServeSpec = Field(
        default_factory=ServeSpec, description="Replicas, resources and batching for 'serve'."
    )

    @property
    def model_name(self) -> str:
        """The name predictions carry: ``name``, or the file's stem."""
        return self.name or self.path.stem


class RoutingSpec(_Frozen):
    """Which of several models scores an event: by a field's value, or a weighted split."""

    field: str | None = Field(None, description="Route by this event field's value.")
    routes: dict[str, str] = Field(
        default_factory=dict, description="With 'field': {field value: model name}."
    )
    default: str | None = Field(
        None,
        description="With 'field': the model for other values and for events without the "
        "field; without it such events are dead-lettered (error.type no_route).",
    )
    weights: dict[str, float] | None = Field(
        None,
        description="A/B split instead: {model name: weight}. An event's share is fixed by "
        "its id, so a re-scored event meets the same model.",
    )

    @model_validator(mode="after")
    def _one_rule(self) -> RoutingSpec:
        if (self.field is None) == (self.weights is None):
            raise ValueError("give exactly one of 'field' (with routes) or 'weights'")
        if self.weights is not None and (
            not self.weights or any(w < 0 for w in self.weights.values())
            or sum(self.weights.values()) <= 0
        ):
            raise ValueError("weights must be non-negative and not all zero")
        return self

    def model_names(self) -> set[str]:
        names = set(self.routes.values()) | set(self.weights or {})
        return names | ({self.default} if self.default else set())


#: The CPUs the HTTP ingress replica reserves (Serve deploys it; cluster sizing counts it).
HTTP_INGRESS_CPUS = 0.1


class HttpSpec(_Frozen):
    """Scoring over HTTP through Ray Serve's proxy (every model must use serving: serve)."""

    enabled: bool = Field(False, description="Serve POST requests on route_prefix.")
    host: str = Field("127.0.0.1", description="Address the proxy binds (loopback by default).")
    port: int = Field(8000, ge=1, le=65535, description="Port the proxy listens on.")
    route_prefix: str = Field(
        "/score", pattern=r"^/[A-Za-z0-9/_-]*$", description="Path that takes events."
    )
    max_events: int = Field(
        1_000, ge=1, le=100_000, description="Most events one request may carry."
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


class WorkerAutoscaleSpec(_Frozen):
    """Scale source workers on consumer lag, between min_workers and max_workers."""

    enabled: bool = Field(False, description="Scale workers on lag (else workers.count).")
    min_workers: int = Field(1, ge=1, le=1_024, description="Fewest workers.")
    max_workers: int = Field(
        4, ge=1, le=1_024, description="Most workers (never more than the source partitions)."
    )
    target_lag_per_worker: int = Field(
        1_000, ge=1,
        description="Records of lag one worker should carry; more adds workers.",
    )
    scale_down_below: float = Field(
        0.2, ge=0, lt=1,
        description="Remove a worker when lag per worker is under this share of the target "
        "(hysteresis: between the two, nothing changes).",
    )
    interval_s: float = Field(2.0, gt=0, le=600, description="How often lag is measured.")
    scale_up_cooldown_s: float = Field(
        10.0, ge=0, description="Least time after any change before adding workers."
    )
    scale_down_cooldown_s: float = Field(
        30.0, ge=0, description="Least time after any change before removing a worker."
    )
    stuck_after_s: float = Field(
        30.0, gt=0,
        description="A partition whose committed offset has not moved this long while it "
        "has lag is reported as stuck and not counted (more workers would not help it).",
    )

    @model_validator(mode="after")
    def _bounds(self) -> WorkerAutoscaleSpec:
        if self.min_workers > self.max_workers:
            raise ValueError("min_workers is more than max_workers")
        return self


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
    _gpus = field_validator("num_gpus")(_whole_above_one)
    autoscale: WorkerAutoscaleSpec = Field(
        default_factory=WorkerAutoscaleSpec,
        description="Lag-driven scaling; when enabled, count is the number to start with.",
    )


class MetricsSpec(_Frozen):
    """The Prometheus endpoint served by the driver, and the driver's own watch."""

    enabled: bool = Field(True, description="Serve Prometheus metrics.")
    host: str = Field("127.0.0.1", description="Address to bind (loopback by default).")
    port: int = Field(9464, ge=0, le=65535, description="Port to bind; 0 picks a free one.")
    stall_after_s: float = Field(
        30.0, gt=0, le=3_600,
        description="Warn (log and live view) when no event was read for this long while "
        "events wait in the source topics: a stuck broker or stuck workers.",
    )


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
    model: ModelSpec | None = Field(
        None, description="The ONNX model (or give several under 'models')."
    )
    models: tuple[ModelSpec, ...] | None = Field(
        None, min_length=1, description="Several models, with 'routing' to choose one per event."
    )
    routing: RoutingSpec | None = Field(
        None, description="How an event finds its model when there are several."
    )
    batching: BatchingSpec = Field(default_factory=BatchingSpec, description="Micro-batching.")
    sink: SinkSpec = Field(description="Output topics.")
    workers: WorkersSpec = Field(default_factory=WorkersSpec, description="Source workers.")
    delivery: Literal["at_least_once"] = Field(
        "at_least_once",
        description="Delivery guarantee: offsets are committed only after every prediction "
        "of the batch was acknowledged by the broker.",
    )
    metrics: MetricsSpec = Field(default_factory=MetricsSpec, description="Prometheus metrics.")
    http: HttpSpec = Field(default_factory=HttpSpec, description="HTTP scoring endpoint.")
    ray: RaySpec = Field(default_factory=RaySpec, description="Ray cluster.")

    @model_validator(mode="after")
    def _models_and_routing(self) -> PipelineSpec:
        if (self.model is None) == (self.models is None):
            raise ValueError("give exactly one of 'model' or 'models'")
        names = [m.model_name for m in self.model_specs]
        if len(set(names)) != len(names):
            raise ValueError(f"two models share a name in 'models' ({', '.join(names)}); "
                             "set a distinct name on each")
        if len(names) > 1 and self.routing is None:
            raise ValueError("several models need 'routing' (a field and routes, or weights)")
        if self.routing is not None:
            unknown = sorted(self.routing.model_names() - set(names))
            if unknown:
                raise ValueError(f"routing names unknown model(s) {', '.join(unknown)}; "
                                 f"the models are {', '.join(names)}")
        if self.http.enabled and any(m.serving != "serve" for m in self.model_specs):
            raise ValueError("http.enabled needs every model to use serving: serve")
        return self

    @property
    def model_specs(self) -> tuple[ModelSpec, ...]:
        """Every model of the pipeline (one for a plain 'model')."""
        if self.model is not None:
            return (self.model,)
        assert self.models is not None
        return self.models

    @model_validator(mode="after")
    def _distinct_topics(self) -> PipelineSpec:
        outputs = {self.sink.predictions_topic, self.sink.dead_letter_topic}
        if len(outputs) != 2:
            raise ValueError("sink.predictions_topic and sink.dead_letter_topic must differ")
        if outputs & set(self.source.topics):
            raise ValueError("a sink topic is also a source topic: the pipeline would loop")
        return self

    @property
    def fetch_max_wait_ms(self) -> int:
        """``source.fetch_max_wait_ms``, else 10 ms (500 ms on the embedded broker)."""
        if self.source.fetch_max_wait_ms is not None:
            return self.source.fetch_max_wait_ms
        return EMBEDDED_FETCH_MAX_WAIT_MS if self.kafka.is_embedded else FETCH_MAX_WAIT_MS

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

        def anchored(model: ModelSpec) -> ModelSpec:
            return model.model_copy(update={"path": _absolute(model.path, base)})

        sec = self.kafka.security
        security = sec.model_copy(
            update={
                key: _absolute(getattr(sec, key), base)
                for key in ("ssl_cafile", "ssl_certfile", "ssl_keyfile")
                if getattr(sec, key) is not None
            }
        )
        kafka = self.kafka.model_copy(update={"security": security})
        return self.model_copy(update={
            "model": anchored(self.model) if self.model else None,
            "models": tuple(anchored(m) for m in self.models) if self.models else None,
            "kafka": kafka,
        })


def _absolute(path: Path, base: Path) -> Path:
    path = Path(os.path.expanduser(path))
    return path if path.is_absolute() else (base / path).resolve()
