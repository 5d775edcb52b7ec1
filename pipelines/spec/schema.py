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
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from streaminfer.pipelines.spec.base import FrozenModel, TopicName
from streaminfer.pipelines.spec.batch_spec import BatchSpec
from streaminfer.pipelines.spec.delivery_spec import DeliverySpec
from streaminfer.pipelines.spec.drift_spec import DriftSpec
from streaminfer.pipelines.spec.feedback_spec import FeedbackSpec, with_live_fields
from streaminfer.pipelines.spec.kafka_spec import (
    EMBEDDED_FETCH_MAX_WAIT_MS,
    FETCH_MAX_WAIT_MS,
    KafkaSpec,
    SecuritySpec,
)
from streaminfer.pipelines.spec.metric_names import one_task
from streaminfer.pipelines.spec.model_spec import (
    HTTP_INGRESS_CPUS,
    HttpSpec,
    ModelSpec,
    RoutingSpec,
    ServeSpec,
)
from streaminfer.pipelines.spec.optimize_spec import OptimizeSpec
from streaminfer.pipelines.spec.raw_spec import RawValueSpec
from streaminfer.pipelines.spec.rollout_spec import RolloutSpec
from streaminfer.pipelines.spec.training_spec import RegistrySpec, RetrainSpec
from streaminfer.pipelines.spec.workers_spec import CrashLoopSpec, WorkerAutoscaleSpec, WorkersSpec

__all__ = [
    "HTTP_INGRESS_CPUS",
    "BatchSpec",
    "BatchingSpec",
    "CrashLoopSpec",
    "DriftSpec",
    "FeedbackSpec",
    "HttpSpec",
    "KafkaSpec",
    "MetricsSpec",
    "ModelSpec",
    "OptimizeSpec",
    "PipelineSpec",
    "RaySpec",
    "RegistrySpec",
    "RetrainSpec",
    "RoutingSpec",
    "SecuritySpec",
    "ServeSpec",
    "SinkSpec",
    "SourceSpec",
    "WorkerAutoscaleSpec",
    "WorkersSpec",
]


FEATURE_SOURCE = ("give exactly one of 'features' (a list of event fields) or 'features_field' "
                  "(one field holding an array)")


class SourceSpec(FrozenModel):
    """The input topics and how an event becomes a feature row."""

    topics: tuple[TopicName, ...] = Field(
        min_length=1, description="Topics to consume events from."
    )
    group_id: str = Field(min_length=1, description="Kafka consumer group shared by the workers.")
    codec: Literal["json", "raw"] = Field(
        "json", description="How event values are decoded: json (each value a JSON object) "
        "or raw (each value one field's bytes as they are, such as a picture's file; see "
        "'raw').",
    )
    raw: RawValueSpec = Field(
        default_factory=RawValueSpec,
        description="With codec raw: the field the value goes to, and where the id comes from.",
    )
    id_field: str | None = Field(
        None, description="Event field that identifies it; without it topic/partition/offset. "
        "With codec raw, the field the record key (or raw.id_header) goes to: default 'id'.",
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

    @model_validator(mode="before")
    @classmethod
    def _raw_id(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("codec") == "raw" and data.get("id_field") is None:
            return {**data, "id_field": "id"}
        return data

    @model_validator(mode="after")
    def _raw_fields(self) -> SourceSpec:
        if self.codec == "raw" and (self.features is not None or self.features_field is not None
                                    or self.raw.field == self.id_field):
            raise ValueError(f"codec raw gives each event one field, '{self.raw.field}' "
                             f"(raw.field), and the id ('{self.id_field}'): map the field with "
                             "model.inputs.NAME.picture instead of 'features'/'features_field', "
                             "and name the id field otherwise")
        return self

    @model_validator(mode="after")
    def _one_feature_source(self) -> SourceSpec:
        if self.features is not None and self.features_field is not None:
            raise ValueError(FEATURE_SOURCE)
        if self.features is not None and len(set(self.features)) != len(self.features):
            raise ValueError("'features' lists a field twice")
        return self




class BatchingSpec(FrozenModel):
    """Micro-batching: a batch closes at max_size events, at max_bytes of them, or
    max_wait_ms after its first event."""

    max_size: int = Field(256, ge=1, le=65_536, description="Most events in one model call.")
    max_wait_ms: int = Field(
        10, ge=0, le=60_000, description="Longest an event waits for its batch to fill."
    )
    max_bytes: int | None = Field(
        None, ge=1, le=2**31,
        description="Most bytes of events (record values: pictures as base64) in one model "
        "call: a batch stops growing there, and what was read beyond waits for the next "
        "(an event larger than this is a batch of its own); bounds a worker's memory with "
        "pictures, colocated or on Serve (each request a worker's batch). Default: no bound.",
    )


class SinkSpec(FrozenModel):
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
    delivery: DeliverySpec = Field(
        default_factory=DeliverySpec,
        description="Retries of a batch's outputs before its offsets are committed.",
    )


class MetricsSpec(FrozenModel):
    """The Prometheus endpoint served by the driver, and the driver's own watch."""

    enabled: bool = Field(True, description="Serve Prometheus metrics.")
    host: str = Field("127.0.0.1", description="Address to bind (loopback by default).")
    port: int = Field(9464, ge=0, le=65535, description="Port to bind; 0 picks a free one.")
    stall_after_s: float = Field(
        30.0, gt=0, le=3_600,
        description="Warn (log and live view) when no event was read for this long while "
        "events wait in the source topics: a stuck broker or stuck workers.",
    )


class RaySpec(FrozenModel):
    """Which Ray to run on."""

    address: str | None = Field(
        None, description="Ray address (e.g. ray://head:10001); default: start a local Ray."
    )
    namespace: str = Field("streaminfer", description="Ray namespace of the named actors.")


class PipelineSpec(FrozenModel):
    """One scoring pipeline: Kafka source -> ONNX model -> Kafka sink, on Ray."""

    name: str = Field(
        pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
        description="Pipeline name: lowercase letters, digits and '-' (used in actor names).",
    )
    kafka: KafkaSpec = Field(default_factory=KafkaSpec, description="Kafka connection.")
    model: ModelSpec | None = Field(
        None, description="The ONNX model (or give several under 'models')."
    )
    models: tuple[ModelSpec, ...] | None = Field(
        None, min_length=1, description="Several models, with 'routing' to choose one per event."
    )
    source: SourceSpec = Field(description="Input topics and feature mapping.")
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
    drift: DriftSpec | None = Field(
        None, description="Drift of live features and predictions against each model's "
        "training profile, with alerts."
    )
    registry: RegistrySpec | None = Field(
        None, description="The MLflow Model Registry that models:/NAME@ALIAS paths name "
        "(default: MLFLOW_TRACKING_URI, else sqlite:///mlflow.db in the current folder).",
    )
    retrain: RetrainSpec | None = Field(
        None, description="How `streaminfer retrain` trains, gates and registers a candidate."
    )
    feedback: FeedbackSpec | None = Field(
        None, description="Join labels to predictions: labelled examples for retraining, "
        "live validation (docs/feedback.md)."
    )
    batch: BatchSpec | None = Field(
        None, description="Batch inference (`streaminfer batch`): the scoring actor pool."
    )
    optimize: OptimizeSpec | None = Field(
        None, description="Tolerance and levels for `streaminfer optimize --config`."
    )
    rollout: RolloutSpec = Field(
        default_factory=RolloutSpec, description="How a running pipeline follows the "
        "registry aliases its models:/NAME@ALIAS paths name: hot swap (docs/rollout.md).",
    )

    @field_validator("source")
    @classmethod
    def _features_unless_inputs(cls, source: SourceSpec, info: ValidationInfo) -> SourceSpec:
        """Without features, every model must map its inputs (model.inputs); the models
        come before the source, so their values are here."""
        if source.features is not None or source.features_field is not None:
            return source
        if "model" not in info.data or "models" not in info.data:
            return source  # a model section is invalid: its own error says why
        given = info.data["models"] or (info.data["model"],)
        models = [m for m in given if m is not None]
        if models and all(m.inputs is not None or m.tokenizer is not None for m in models):
            return source
        raise ValueError(f"{FEATURE_SOURCE}, or map every model input with model.inputs "
                         "(or model.tokenizer)")

    @model_validator(mode="before")
    @classmethod
    def _live_fields(cls, data: Any) -> Any:
        return with_live_fields(data)

    @model_validator(mode="after")
    def _shadow_apart(self) -> PipelineSpec:
        shadow = self.rollout.shadow_topic_for(self.sink.predictions_topic)
        if shadow in (self.sink.predictions_topic, self.sink.dead_letter_topic,
                      *self.source.topics):
            raise ValueError(f"rollout.shadow_topic {shadow!r} is a topic the pipeline "
                             "already reads or writes; a shadow's predictions need their own")
        return self

    @model_validator(mode="after")
    def _metrics_of_one_task(self) -> PipelineSpec:
        """One model: its rollout rules, gate and retrain trigger judge it by metrics of its
        task (a classifier when feedback.live.classes is given)."""
        if self.models is not None:
            return self
        named = {f"rollout.{name}.metric": rule.metric
                 for name, rule in (("rollback", self.rollout.rollback),
                                    ("promote", self.rollout.promote)) if rule is not None}
        if self.retrain is not None:
            named.update(self.retrain.metric_fields())
        live = self.feedback.live if self.feedback is not None else None
        known = live is not None and live.classes is not None
        one_task(named, ("feedback.live.classes", "classifier") if known else None)
        return self

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
        if self.drift is not None and self.drift.alerts_topic in outputs | set(self.source.topics):
            raise ValueError("drift.alerts_topic must be a topic of its own, not a source or "
                             "sink topic")
        if self.feedback is not None:
            fb = self.feedback
            ours = {fb.labels_topic, fb.training_topic}
            if fb.unmatched_topic is not None:
                ours.add(fb.unmatched_topic)
            clash = sorted(ours & (outputs | set(self.source.topics)))
            if clash:
                raise ValueError(f"feedback topic(s) {', '.join(clash)} are also source or "
                                 "sink topics; give the feedback its own topics")
        return self

    @property
    def fetch_max_wait_ms(self) -> int:
        """``source.fetch_max_wait_ms``, else 10 ms (500 ms on the embedded broker)."""
        if self.source.fetch_max_wait_ms is not None:
            return self.source.fetch_max_wait_ms
        return EMBEDDED_FETCH_MAX_WAIT_MS if self.kafka.is_embedded else FETCH_MAX_WAIT_MS

    def with_overrides(
        self, *, workers: int | None = None, ray_address: str | None = None,
        joiners: int | None = None,
    ) -> PipelineSpec:
        """A copy with command-line overrides applied (``None`` keeps the YAML's value)."""
        spec = self
        if joiners is not None and spec.feedback is not None:
            fb = spec.feedback
            spec = spec.model_copy(update={"feedback": fb.model_copy(
                update={"joiners": fb.joiners.model_copy(update={"count": joiners})})})
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
            if model.tokenizer is not None:
                tokenizer = model.tokenizer
                model = model.model_copy(update={"tokenizer": tokenizer.model_copy(
                    update={"path": _absolute(tokenizer.path, base)})})
            if model.registry_ref is not None:
                return model
            return model.model_copy(update={"path": _absolute(model.path, base)})

        sec = self.kafka.security
        security = sec.model_copy(
            update={key: _absolute(path, base) for key, path in sec.tls_files().items()}
        )
        kafka = self.kafka.model_copy(update={"security": security})
        return self.model_copy(update={
            "model": anchored(self.model) if self.model else None,
            "models": tuple(anchored(m) for m in self.models) if self.models else None,
            "kafka": kafka,
            "registry": self.registry and self.registry.resolve_paths(base, _absolute),
            "retrain": self.retrain and self.retrain.resolve_paths(base, _absolute),
        })


def _absolute(path: Path, base: Path) -> Path:
    path = Path(os.path.expanduser(path))
    return path if path.is_absolute() else (base / path).resolve()
