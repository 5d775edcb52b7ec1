"""The ``model``/``models``, ``routing`` and ``http`` sections: what scores, where, reached how."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from streaminfer.operators.inputs import InputBinding
from streaminfer.operators.postprocess import PostProcess
from streaminfer.pipelines.spec.base import FrozenModel, ProviderName, Sha256, whole_above_one
from streaminfer.pipelines.spec.picture_spec import PictureSpec
from streaminfer.pipelines.spec.tokenizer_spec import TokenizerSpec


class ServeSpec(FrozenModel):
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

    _gpus = field_validator("num_gpus")(whole_above_one)

    @model_validator(mode="after")
    def _replica_bounds(self) -> ServeSpec:
        if self.min_replicas > self.max_replicas:
            raise ValueError("min_replicas is more than max_replicas")
        initial = self.initial_replicas
        if initial is not None and not self.min_replicas <= initial <= self.max_replicas:
            raise ValueError("initial_replicas must lie between min_replicas and max_replicas")
        return self


class InputSpec(FrozenModel):
    """Where one model input's values are in an event (``model.inputs.NAME``); a plain
    string is short for ``{field: NAME}``."""

    field: str | None = Field(
        None, min_length=1,
        description="One event field per row: an input of shape [batch] or [batch, 1].",
    )
    fields: tuple[str, ...] | None = Field(
        None, min_length=1,
        description="Event fields that form a row, in model order: an input [batch, n].",
    )
    array_field: str | None = Field(
        None, min_length=1,
        description="One event field holding an array: an input [batch, n] (a dynamic n: "
        "the arrays of a micro-batch must have one length; others are dead-lettered).",
    )
    cast: bool = Field(
        False,
        description="Convert a value of another JSON type to the input's type (\"3\" to 3 "
        "for a number input, 3 to \"3\" for a string input) instead of dead-lettering it "
        "(error.type wrong_input_type).",
    )
    default: float | int | bool | str | None = Field(
        None,
        description="Value used where the field is missing or null (with 'fields': for each "
        "such field; not with 'array_field'); without it such an event is dead-lettered "
        "(error.type missing_feature).",
    )
    picture: PictureSpec | None = Field(
        None, description="'field' holds a picture as base64: decoded and preprocessed "
        "into an input of shape [batch, channels, height, width] or [batch, height, width, "
        "channels] (docs/inputs.md, 'Pictures').",
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"field": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_place(self) -> InputSpec:
        if sum(x is not None for x in (self.field, self.fields, self.array_field)) != 1:
            raise ValueError("give exactly one of 'field', 'fields' or 'array_field'")
        if self.array_field is not None and self.default is not None:
            raise ValueError("'default' fills one value; an array_field takes none")
        if self.picture is not None and (self.field is None or self.cast
                                         or self.default is not None):
            raise ValueError("a 'picture' is read from one 'field' (base64), without 'cast' "
                             "or 'default'")
        return self


class PostprocessSpec(FrozenModel):
    """What a classifier's outputs become in its predictions (``model.postprocess``); it
    reads the outputs by role (label, probabilities) under the names model.outputs gives."""

    softmax: bool = Field(
        False, description="Apply softmax to the probabilities output (a model that gives "
        "logits), before the threshold and top_k.",
    )
    threshold: float | None = Field(
        None, ge=0, le=1,
        description="Binary models: the label is 1 (or classes[1]) when the probability of "
        "class 1 is at least this, else 0; default: the model's own label.",
    )
    classes: tuple[str, ...] | None = Field(
        None, min_length=1,
        description="Class names by label index, e.g. [legit, fraud]: the label field holds "
        "the name (\"fraud\") instead of the index; a label without a name is "
        "dead-lettered (error.type postprocess_error).",
    )
    top_k: int | None = Field(
        None, ge=1, le=1_000,
        description="Publish the k classes of highest probability, best first, as "
        "[{label, score}] (label: the class name, or its index without classes).",
    )
    top_k_field: str = Field(
        "top_k", min_length=1, description="The prediction field that holds top_k.",
    )

    def operator(self) -> PostProcess:
        """This section as the scoring operators take it."""
        return PostProcess(softmax=self.softmax, classes=self.classes,
                           threshold=self.threshold, top_k=self.top_k,
                           top_k_field=self.top_k_field)


REGISTRY_SCHEME = "models:/"
_MODEL_REF = re.compile(
    r"^models:/(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:@(?P<alias>[A-Za-z][A-Za-z0-9_-]*)"
    r"|/(?P<version>[1-9][0-9]*))$"
)


@dataclass(frozen=True)
class RegistryRef:
    """A model in the registry: ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``."""

    name: str
    alias: str | None = None
    version: str | None = None

    def __str__(self) -> str:
        return f"models:/{self.name}@{self.alias}" if self.alias else \
            f"models:/{self.name}/{self.version}"


def parse_model_ref(path: str | Path) -> RegistryRef | None:
    """The registry reference a model path names, or ``None`` for a file path.

    >>> parse_model_ref("models:/fraud@champion"), parse_model_ref("models/fraud.onnx")
    (RegistryRef(name='fraud', alias='champion', version=None), None)
    """
    text = str(path)
    if not text.startswith(REGISTRY_SCHEME.rstrip("/")):
        return None
    found = _MODEL_REF.match(text)
    if found is None:
        raise ValueError(f"{text!r} is not a registry reference; write models:/NAME@ALIAS "
                         "or models:/NAME/VERSION")
    return RegistryRef(found["name"], found["alias"], found["version"])


class ModelSpec(FrozenModel):
    """The ONNX model that scores each event."""

    path: Path = Field(
        description="ONNX model file (relative to this YAML file's folder), or a version in "
        "the model registry: models:/NAME@ALIAS or models:/NAME/VERSION (see 'registry')."
    )
    name: str | None = Field(None, description="Model name in predictions; default: file stem.")
    version: str | None = Field(
        None, description="Model version in predictions; default: first 12 hex of its sha256."
    )
    sha256: Sha256 | None = Field(
        None,
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
    inputs: dict[str, InputSpec] | None = Field(
        None,
        description="Every model input, by its name in the model, fed from event fields "
        "and type-checked per element type (float, double, float16, int64, int32, int8, "
        "uint8, bool, string); default: the single float input takes source.features "
        "(docs/contracts.md, 'Typed inputs').",
    )
    tokenizer: TokenizerSpec | None = Field(
        None, description="Tokenize an event's text into the model's token id inputs "
        "(input_ids, attention_mask, token_type_ids) with a tokenizer.json; other inputs, "
        "if any, under 'inputs'.",
    )
    outputs: dict[str, str] | None = Field(
        None,
        description="Model outputs to publish, as {onnx_output_name: prediction_field}; "
        "default: every output under its own name.",
    )
    postprocess: PostprocessSpec | None = Field(
        None, description="Class names, a decision threshold, top-k with scores, softmax "
        "over logits: what a classifier's outputs become in its predictions.",
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

    @field_validator("path", mode="before")
    @classmethod
    def _registry_ref(cls, value: object) -> object:
        if isinstance(value, str):
            parse_model_ref(value)  # a malformed models:/ reference is an error here
        return value

    @model_validator(mode="after")
    def _inputs_or_input_name(self) -> ModelSpec:
        if self.inputs is not None and self.input_name is not None:
            raise ValueError("give 'inputs' (every input mapped) or 'input_name' (the one "
                             "input source.features feeds), not both")
        if self.inputs is not None and not self.inputs:
            raise ValueError("'inputs' maps no input; map each input of the model")
        if self.tokenizer is not None and self.input_name is not None:
            raise ValueError("give 'tokenizer' (it feeds the token inputs) or 'input_name' "
                             "(the one input source.features feeds), not both")
        return self

    def input_bindings(self) -> dict[str, InputBinding] | None:
        """``inputs`` as the bindings the scoring operators take (``None``: not given)."""
        if self.inputs is None:
            return None
        return {name: InputBinding(field=i.field, fields=i.fields, array_field=i.array_field,
                                   cast=i.cast, default=i.default,
                                   picture=i.picture.operator() if i.picture else None)
                for name, i in self.inputs.items()}

    @property
    def registry_ref(self) -> RegistryRef | None:
        """The registry version this model names, if its path is ``models:/...``."""
        return parse_model_ref(self.path)

    @property
    def model_name(self) -> str:
        """The name predictions carry: ``name``, the registered name, or the file's stem."""
        ref = self.registry_ref
        return self.name or (ref.name if ref else self.path.stem)


class RoutingSpec(FrozenModel):
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


class HttpSpec(FrozenModel):
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

