"""``streaminfer retrain``: labelled examples -> candidate -> holdout metrics -> gate -> registry.

The candidate and the champion are measured on the same holdout (the newest examples). The
candidate is always registered, with its metrics, lineage and data range; it gets the
``challenger`` alias (``retrain.alias_on_pass``) only when it passes the gate, else it is
tagged ``gate=rejected`` with the reason. Training runs as a Ray task when an address is
given (a cluster), else in this process: never in a pipeline driver's thread.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa

from streaminfer.errors import BrokerError, ConfigError
from streaminfer.operators.input_profile import build_input_profile
from streaminfer.operators.inputs import InputSignature
from streaminfer.operators.model_runner import sha256_hex
from streaminfer.operators.profile import build_profile, profile_path
from streaminfer.pipelines.kafka.range_reader import read_range
from streaminfer.pipelines.lifecycle import examples as ex
from streaminfer.pipelines.lifecycle.gate import GateResult, evaluate_gate
from streaminfer.pipelines.lifecycle.holdout import holdout_metrics
from streaminfer.pipelines.lifecycle.registry import (
    MODEL_FILE,
    TAG_GATE,
    TAG_GATE_REASON,
    Lineage,
    ModelVersion,
    Registry,
)
from streaminfer.pipelines.lifecycle.roles import CHAMPION
from streaminfer.pipelines.lifecycle.trainers import TrainedModel, train
from streaminfer.pipelines.lifecycle.typed_training import (
    Split,
    check_retrainable,
    numeric_split,
    typed_split,
)
from streaminfer.pipelines.spec.kafka_settings import client_config
from streaminfer.pipelines.spec.schema import ModelSpec, PipelineSpec
from streaminfer.pipelines.spec.training_spec import RetrainSpec

CHAMPION_PREFIX = "champion."


@dataclass(frozen=True)
class RetrainResult:
    """The registered candidate, its and the champion's holdout metrics, the gate's verdict."""

    version: ModelVersion
    metrics: dict[str, float]
    champion: ModelVersion | None
    champion_metrics: dict[str, float] | None
    gate: GateResult
    train_count: int
    holdout_count: int
    skipped: int  # records that were not labelled examples
    refused: int = 0  # labelled examples the model's inputs refused (model.inputs)


def registered_name(spec: PipelineSpec) -> str:
    """``retrain.model_name``, else the pipeline's (only) model's registered name."""
    assert spec.retrain is not None
    if spec.retrain.model_name:
        return spec.retrain.model_name
    if len(spec.model_specs) > 1:
        raise ConfigError("retrain.model_name is needed when the pipeline has several models")
    model = spec.model_specs[0]
    ref = model.registry_ref
    return ref.name if ref else model.model_name


def read_examples(
    spec: PipelineSpec, champion: ModelVersion | None, progress: Steps, typed: bool = False,
) -> ex.Examples:
    """The labelled examples the ``retrain.source`` section names (``typed``: as events,
    for a model fed by ``model.inputs``)."""
    rt = spec.retrain
    assert rt is not None
    source, features = rt.source, spec.source.features
    if source.files is not None:
        if typed:
            return ex.events_from_files(source, rt.label_field)
        return ex.examples_from_files(source, features, rt.label_field)
    assert source.topic is not None
    if spec.kafka.is_embedded:
        raise ConfigError("retrain reads the training topic from a running broker; the "
                          "embedded one lives inside `streaminfer run`: set "
                          "kafka.bootstrap_servers to its address")
    start = dict(source.start_offsets or {})
    if not start and source.since == CHAMPION and champion is not None:
        start = _after(champion, source.topic)
    task = progress.add_task(f"reading {source.topic}", total=None)
    try:
        records, span = read_range(
            client_config(spec.kafka, spec.kafka.bootstrap_servers), source.topic,
            start=start, end=source.end_offsets, timeout_s=source.read_timeout_s,
            progress=lambda n: progress.advance(task, n))
    except BrokerError as exc:
        raise BrokerError(f"{exc}; raise retrain.source.read_timeout_s") from None
    progress.update(task, total=len(records), completed=len(records))
    rows, skipped = ex.decode_examples(records, rt.label_field, source)
    data_range = span.as_dict()
    for key in ("from_time_ms", "until_time_ms"):
        if getattr(source, key) is not None:
            data_range[key] = getattr(source, key)
    where = f"topic {source.topic}"
    if typed:
        return ex.examples_from_events(rows, rt.label_field, data_range, skipped, where)
    return ex.examples_from_table(pa.Table.from_pylist(rows), features, rt.label_field,
                                  data_range, skipped, where=where)


def retrained_model(spec: PipelineSpec, name: str) -> ModelSpec:
    """The pipeline's model that ``name`` (the registered name) retrains."""
    for model in spec.model_specs:
        ref = model.registry_ref
        if (ref.name if ref else model.model_name) == name:
            return model
    return spec.model_specs[0]


def reference_model(model: ModelSpec, champion: ModelVersion | None,
                    registry: Registry) -> bytes:
    """The model file a typed candidate replaces (its inputs are the candidate's): the
    champion, else the pipeline's model file."""
    if champion is not None:
        return registry.fetch(champion).read_bytes()
    if model.registry_ref is None and Path(model.path).is_file():
        return Path(model.path).read_bytes()
    raise ConfigError(f"retrain: model {model.model_name} is fed by model.inputs; the new "
                      "model takes the inputs of the one it replaces, and there is none: "
                      "register a champion, or set model.path to its file")


def _after(champion: ModelVersion, topic: str) -> dict[int, int]:
    """Where the champion's training data ended in ``topic`` (empty: the beginning)."""
    recorded = champion.data_range or {}
    if recorded.get("topic") != topic:
        return {}
    return {int(p): int(span[1]) for p, span in recorded.get("partitions", {}).items()}


def run_training(rt: RetrainSpec, X: Any, y: np.ndarray, address: str | None,
                 signature: tuple[InputSignature, ...] | None = None) -> TrainedModel:
    """Fit and export, as a Ray task when ``address`` names a Ray, else here."""
    if address is None:
        return train(rt.estimator, X, y, rt.seed, signature)
    import ray

    if not ray.is_initialized():
        ray.init(address=address, logging_level=logging.WARNING)
    task = ray.remote(train).options(num_cpus=1)
    trained: TrainedModel = ray.get(task.remote(rt.estimator, X, y, rt.seed, signature))
    return trained


def write_profile(folder: Path, features: tuple[str, ...], X: np.ndarray,
                  onnx: bytes) -> Path:
    """The training profile (the features and the model's outputs on its training rows),
    written where drift looks for it beside ``model.onnx``."""
    profile = build_profile(features, X, _outputs(onnx, X), model_sha256=sha256_hex(onnx))
    return profile.write(profile_path(folder / MODEL_FILE))


def write_input_profile(folder: Path, split: Split, onnx: bytes) -> Path:
    """The training profile of a model fed by ``model.inputs``: bins per input of its
    training feed, and its outputs on it (``operators/input_profile.py``)."""
    from streaminfer.operators.model_runner import OnnxModel

    assert split.train_feed is not None and split.bindings is not None
    model = OnnxModel(onnx, name="candidate", providers=("CPUExecutionProvider",),
                      inputs=split.bindings)
    outputs = dict(zip(model.info.outputs.values(), model.run(split.train_feed), strict=True))
    profile = build_input_profile(split.train_feed, outputs, model_sha256=sha256_hex(onnx))
    return profile.write(profile_path(folder / MODEL_FILE))


class Steps(Protocol):
    """Where retraining reports its steps (rich's ``Progress`` is one; the CLI passes it)."""

    def add_task(self, description: str, /, *, total: float | None = ...) -> Any: ...

    def advance(self, task: Any, /, advance: float = ...) -> None: ...

    def update(self, task: Any, /, *, total: float | None = ..., completed: float | None = ...,
               advance: float | None = ..., description: str | None = ...) -> None: ...


class NoSteps:
    """Steps that nobody watches."""

    def add_task(self, description: str, /, *, total: float | None = None) -> Any:
        return 0

    def advance(self, task: Any, /, advance: float = 1) -> None:
        pass

    def update(self, task: Any, /, *, total: float | None = None, completed: float | None = None,
               advance: float | None = None, description: str | None = None) -> None:
        pass


def retrain(
    spec: PipelineSpec, *, registry: Registry | None = None, address: str | None = None,
    steps: Steps | None = None,
) -> RetrainResult:
    """Train, measure, register and gate one candidate, as ``spec.retrain`` says; ``steps``
    hears of each step (reading, training, measuring, registering)."""
    rt = spec.retrain
    if rt is None:
        raise ConfigError(f"pipeline {spec.name} has no 'retrain' section (docs/registry.md)")
    registry = registry or Registry.from_spec(spec.registry)
    name = registered_name(spec)
    champion = registry.find(name, CHAMPION)
    progress = steps or NoSteps()
    model = retrained_model(spec, name)
    typed = model.inputs is not None or model.tokenizer is not None
    if typed:  # before reading: what cannot be retrained says so at once
        check_retrainable(model)
    reference = reference_model(model, champion, registry) if typed else b""
    data = read_examples(spec, champion, progress, typed)
    ex.check_enough(data, rt.min_examples, _where(rt))
    train_rows, hold_rows = ex.time_split(data.times, rt.holdout_share)
    split = (typed_split(model, reference, data, train_rows, hold_rows) if typed
             else numeric_split(data, train_rows, hold_rows))
    step = progress.add_task("training", total=3)
    trained = run_training(rt, split.X, split.y, address, split.signature)
    progress.update(step, advance=1, description="measuring on the holdout")
    metrics = holdout_metrics(trained.onnx, split.X_hold, split.y_hold, trained.classes,
                              f"{name} candidate", split.bindings)
    champion_metrics = None
    if champion is not None:
        champion_metrics = holdout_metrics(registry.fetch(champion).read_bytes(), split.X_hold,
                                           split.y_hold, trained.classes, champion.uri,
                                           split.bindings)
    verdict = evaluate_gate(metrics, champion_metrics, rt.gate)
    progress.update(step, advance=1, description="registering")
    version = _register(registry, name, trained, data, (split, metrics, champion_metrics),
                        champion, verdict)
    if verdict.passed:
        registry.set_alias(name, rt.alias_on_pass, version.version)
        version = registry.resolve(name, version.version)
    progress.update(step, advance=1, description="done")
    return RetrainResult(version, metrics, champion, champion_metrics, verdict,
                         len(split.y), len(split.y_hold), data.skipped, split.refused)


def _where(rt: RetrainSpec) -> str:
    return f"topic {rt.source.topic}" if rt.source.topic else "retrain.source.files"


def _register(
    registry: Registry, name: str, trained: TrainedModel, data: ex.Examples,
    measured: tuple[Split, dict[str, float], dict[str, float] | None],
    champion: ModelVersion | None, verdict: GateResult,
) -> ModelVersion:
    split, metrics, champion_metrics = measured
    all_metrics = {**metrics, **{CHAMPION_PREFIX + k: v for k, v in
                                 (champion_metrics or {}).items()}}
    tags = {TAG_GATE: "passed" if verdict.passed else "rejected"}
    if verdict.reasons:
        tags[TAG_GATE_REASON] = verdict.reason[:5000]
    if trained.classes is not None:
        tags["classes"] = json.dumps(list(trained.classes))
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = Path(tmp) / "model.onnx"
        onnx_path.write_bytes(trained.onnx)
        if split.train_feed is None:
            profile = write_profile(Path(tmp), data.features, split.X, trained.onnx)
        else:
            profile = write_input_profile(Path(tmp), split, trained.onnx)
        lineage = Lineage("retrain", champion.version if champion else None, data.data_range)
        return registry.register_model(name, onnx_path, metrics=all_metrics, lineage=lineage,
                                       tags=tags, profile_path=profile)


def _outputs(onnx: bytes, X: np.ndarray) -> dict[str, Any]:
    """A model's outputs on ``X``, by output name."""
    from streaminfer.operators.model_runner import OnnxModel

    model = OnnxModel(onnx, name="candidate", providers=("CPUExecutionProvider",))
    return dict(zip(model.info.outputs.values(), model.run(X.astype(model.info.input_dtype)),
                    strict=True))
