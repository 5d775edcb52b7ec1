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
from streaminfer.pipelines.spec.kafka_settings import client_config
from streaminfer.pipelines.spec.schema import PipelineSpec
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
    skipped: int


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
    spec: PipelineSpec, champion: ModelVersion | None, progress: Steps,
) -> ex.Examples:
    """The labelled examples the ``retrain.source`` section names."""
    rt = spec.retrain
    assert rt is not None
    source, features = rt.source, spec.source.features
    if source.files is not None:
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
    return ex.examples_from_table(pa.Table.from_pylist(rows), features, rt.label_field,
                                  data_range, skipped, where=f"topic {source.topic}")


def _after(champion: ModelVersion, topic: str) -> dict[int, int]:
    """Where the champion's training data ended in ``topic`` (empty: the beginning)."""
    recorded = champion.data_range or {}
    if recorded.get("topic") != topic:
        return {}
    return {int(p): int(span[1]) for p, span in recorded.get("partitions", {}).items()}


def run_training(rt: RetrainSpec, X: np.ndarray, y: np.ndarray,
                 address: str | None) -> TrainedModel:
    """Fit and export, as a Ray task when ``address`` names a Ray, else here."""
    if address is None:
        return train(rt.estimator, X, y, rt.seed)
    import ray

    if not ray.is_initialized():
        ray.init(address=address, logging_level=logging.WARNING)
    task = ray.remote(train).options(num_cpus=1)
    return ray.get(task.remote(rt.estimator, X, y, rt.seed))


def write_profile(folder: Path, features: tuple[str, ...], X: np.ndarray,
                  onnx: bytes) -> Path:
    """The training profile (the features and the model's outputs on its training rows),
    written where drift looks for it beside ``model.onnx``."""
    profile = build_profile(features, X, _outputs(onnx, X), model_sha256=sha256_hex(onnx))
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
    data = read_examples(spec, champion, progress)
    ex.check_enough(data, rt.min_examples, _where(rt))
    train_rows, hold_rows = ex.time_split(data.times, rt.holdout_share)
    X, y = data.X[train_rows], data.y[train_rows]
    step = progress.add_task("training", total=3)
    trained = run_training(rt, X, y, address)
    progress.update(step, advance=1, description="measuring on the holdout")
    X_hold, y_hold = data.X[hold_rows], data.y[hold_rows]
    metrics = holdout_metrics(trained.onnx, X_hold, y_hold, trained.classes,
                              f"{name} candidate")
    champion_metrics = None
    if champion is not None:
        champion_metrics = holdout_metrics(registry.fetch(champion).read_bytes(), X_hold,
                                           y_hold, trained.classes, champion.uri)
    verdict = evaluate_gate(metrics, champion_metrics, rt.gate)
    progress.update(step, advance=1, description="registering")
    version = _register(registry, name, trained, data, (X, metrics, champion_metrics),
                        champion, verdict)
    if verdict.passed:
        registry.set_alias(name, rt.alias_on_pass, version.version)
        version = registry.resolve(name, version.version)
    progress.update(step, advance=1, description="done")
    return RetrainResult(version, metrics, champion, champion_metrics, verdict,
                         len(train_rows), len(hold_rows), data.skipped)


def _where(rt: RetrainSpec) -> str:
    return f"topic {rt.source.topic}" if rt.source.topic else "retrain.source.files"


def _register(
    registry: Registry, name: str, trained: TrainedModel, data: ex.Examples,
    measured: tuple[np.ndarray, dict[str, float], dict[str, float] | None],
    champion: ModelVersion | None, verdict: GateResult,
) -> ModelVersion:
    X, metrics, champion_metrics = measured
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
        profile = write_profile(Path(tmp), data.features, X, trained.onnx)
        lineage = Lineage("retrain", champion.version if champion else None, data.data_range)
        return registry.register_model(name, onnx_path, metrics=all_metrics, lineage=lineage,
                                       tags=tags, profile_path=profile)


def _outputs(onnx: bytes, X: np.ndarray) -> dict[str, Any]:
    """A model's outputs on ``X``, by output name."""
    from streaminfer.operators.model_runner import OnnxModel

    model = OnnxModel(onnx, name="candidate", providers=("CPUExecutionProvider",))
    return dict(zip(model.info.outputs.values(), model.run(X.astype(model.info.input_dtype)),
                    strict=True))
