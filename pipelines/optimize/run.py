"""``streaminfer optimize``: make every variant, measure speed and quality against the
original on labelled rows, mark the tolerance and the Pareto front, choose the fastest
accepted variant (``registration.py`` registers it when asked)."""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from streaminfer.errors import DataError, ModelError
from streaminfer.operators.labelled_rows import LabelledRows
from streaminfer.operators.metric_table import Task, primary_metric
from streaminfer.operators.model_runner import read_model_file, sha256_hex
from streaminfer.pipelines.optimize.compare import (
    DEFAULT_MAX_LOSS,
    accepted,
    choose,
    loss_words,
    oriented,
    pareto_front,
    relative_loss,
)
from streaminfer.pipelines.optimize.recipes import FRACTIONS, ORIGINAL, SPARSITIES, Inputs, recipes
from streaminfer.pipelines.optimize.timing import Speed, cuda_usable, open_session, time_sessions
from streaminfer.pipelines.optimize.variant_quality import agreement, classes_of, quality
from streaminfer.pipelines.optimize.variants import Built, build_variant

log = logging.getLogger(__name__)
NOT_MEASURED = "not measured here (no usable GPU)"


@dataclass(frozen=True)
class Settings:
    """How ``optimize`` measures and judges."""

    max_loss: float = DEFAULT_MAX_LOSS  # relative loss in the primary metric
    batches: tuple[int, ...] = (256,)  # besides batch 1
    rank_batch: int = 256  # "fastest" means rows/s at this batch size, on CPU
    calibration_rows: int = 256
    rounds: int = 5
    block_s: float = 0.2
    threads: int = 1
    sparsities: tuple[float, ...] = SPARSITIES
    fractions: tuple[float, ...] = FRACTIONS
    only: tuple[str, ...] | None = None  # variant names to try (the original always)


@dataclass
class VariantReport:
    """One row of the comparison."""

    name: str
    technique: str
    settings: dict[str, Any]
    status: str  # original, accepted, rejected, skipped, failed
    reason: str = ""
    file: str | None = None
    size_bytes: int | None = None
    sha256: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    delta: dict[str, float] = field(default_factory=dict)
    loss: float | None = None
    agreement: float | None = None
    speed: dict[str, Speed | str | None] = field(default_factory=dict)
    speedup: float | None = None
    pareto: bool = False


@dataclass
class Report:
    """Everything ``optimize`` found, as written to ``report.json``."""

    model: str
    model_sha256: str
    kind: str
    primary_metric: str
    data: str
    rows: int
    max_loss: float
    rank_batch: int
    devices: list[str]
    variants: list[VariantReport]
    chosen: str | None = None
    registered: str | None = None
    #: Rows the model's feed builder refused (``model.inputs``), by reason; left out.
    refused: dict[str, int] = field(default_factory=dict)
    #: Why the chosen variant was chosen, or why none was (``compare.choose``).
    why: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def variant(self, name: str) -> VariantReport:
        return next(v for v in self.variants if v.name == name)


def _measure(built: list[Built], X: dict[str, np.ndarray], settings: Settings,
             devices: list[str]) -> dict[str, dict[str, Speed | str | None]]:
    batches = sorted({*settings.batches, settings.rank_batch})
    speeds: dict[str, dict[str, Speed | str | None]] = {b.recipe.name: {} for b in built}
    timed = {b.recipe.name: (b.session, b.load_ms) for b in built if not b.recipe.gpu_only}
    for name, speed in time_sessions(timed, X, batches, rounds=settings.rounds,
                                     block_s=settings.block_s).items():
        speeds[name]["cpu"] = speed
    for b in built:
        if b.recipe.gpu_only:
            speeds[b.recipe.name]["cpu"] = "not measured: timed on GPUs only"
    if "cuda" in devices:
        on_gpu = {b.recipe.name: open_session(b.data, "cuda", settings.threads) for b in built}
        for name, speed in time_sessions(on_gpu, X, batches, rounds=settings.rounds,
                                         block_s=settings.block_s).items():
            speeds[name]["cuda"] = speed
    else:
        for b in built:
            speeds[b.recipe.name]["cuda"] = NOT_MEASURED
    return speeds


def _row(b: Built, reference: Built, rows: LabelledRows, classes: list[Any] | None,
         primary: str) -> VariantReport:
    r = b.recipe
    report = VariantReport(r.name, r.technique, dict(r.settings), b.status, b.reason)
    if b.predictions is None or reference.predictions is None:
        return report
    report.file, report.size_bytes, report.sha256 = (
        str(b.path), len(b.data), sha256_hex(b.data))
    base = quality(reference.predictions, rows.y, classes)
    report.metrics = quality(b.predictions, rows.y, classes)
    report.delta = {k: report.metrics[k] - base[k] for k in base}
    report.loss = relative_loss(primary, base[primary], report.metrics[primary])
    report.agreement = agreement(reference.predictions, b.predictions, classes)
    return report


def _judge(reports: list[VariantReport], settings: Settings, primary: str
           ) -> tuple[str | None, str]:
    """Mark accepted/rejected, the Pareto front and the speedups; the fastest accepted if
    faster than the original by more than the noise, and why."""
    rank = settings.rank_batch
    speeds: dict[str, float] = {}
    spreads: dict[str, float] = {}
    for v in reports:
        if v.loss is None:
            continue
        if v.name != ORIGINAL:
            v.status = "accepted" if accepted(v.loss, settings.max_loss) else "rejected"
            if v.status == "rejected":
                v.reason = f"{loss_words(v.loss, primary)} (max loss {settings.max_loss:.2%})"
        cpu = v.speed.get("cpu")
        if isinstance(cpu, Speed):
            speeds[v.name] = cpu.rows_per_s[rank]
            spreads[v.name] = cpu.spread.get(rank, 0.0)
    base = speeds.get(ORIGINAL)
    points = {}
    for v in reports:
        if v.name in speeds and base:
            v.speedup = round(speeds[v.name] / base, 3)
            good = oriented(primary, v.metrics[primary])
            if not math.isnan(good):
                points[v.name] = (speeds[v.name], good)
    for name in pareto_front(points):
        next(v for v in reports if v.name == name).pareto = True
    allowed = {v.name for v in reports if v.status == "accepted"}
    return choose(speeds, allowed, ORIGINAL, spreads)


def optimize(model_path: Path, rows: LabelledRows, out_dir: Path, *, data_name: str = "",
             settings: Settings | None = None, model_ref: str | None = None,
             feed: dict[str, np.ndarray] | None = None,
             refused: dict[str, int] | None = None) -> Report:
    """Make, measure and compare every variant of ``model_path`` on ``rows`` (``model_ref``:
    how the report names the model, e.g. the ``models:/`` reference it was fetched by).

    ``feed``: the rows as the model's own feed builder made them (every input by name, for a
    model fed by ``model.inputs``; ``refused`` counts the rows it refused); else ``rows.X``
    feeds the model's one input."""
    settings = settings or Settings()
    if len(rows.y) == 0:
        raise DataError(f"{data_name or 'the data'}: no rows to validate on")
    original = read_model_file(model_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    session, _ = open_session(original)
    X = feed if feed is not None else {session.get_inputs()[0].name: rows.X.astype(np.float32)}
    sample = np.random.default_rng(0).permutation(len(rows.y))[: settings.calibration_rows]
    inputs = Inputs({name: values[sample] for name, values in X.items()})
    chosen = [r for r in recipes(settings.sparsities, settings.fractions)
              if r.name == ORIGINAL or settings.only is None or r.name in settings.only]
    built = []
    for recipe in chosen:  # the original first: if it cannot run on the data, stop there
        log.info("variant %s", recipe.name)
        built.append(build_variant(recipe, original, inputs, X, out_dir, settings.threads))
        reference = built[0]
        if reference.predictions is None:
            raise ModelError(f"{model_path} does not run on {data_name or 'the data'} "
                             f"({reference.reason}); check the feature columns (--config)")
    assert reference.predictions is not None
    kind: Task = "classifier" if reference.predictions.is_classifier else "regressor"
    classes = classes_of(reference.predictions, rows.y) if kind == "classifier" else None
    devices = ["cpu", "cuda"] if cuda_usable() else ["cpu"]
    ok = [b for b in built if b.status == "built"]
    speeds = _measure(ok, X, settings, devices)
    primary = primary_metric(kind)
    reports = []
    for b in built:
        report = _row(b, reference, rows, classes, primary)
        report.speed = speeds.get(b.recipe.name, {})
        reports.append(report)
    reports[0].status = ORIGINAL
    best, why = _judge(reports, settings, primary)
    return Report(model_ref or str(model_path), sha256_hex(original), kind, primary,
                  data_name, len(rows.y), settings.max_loss, settings.rank_batch, devices,
                  reports, best, refused=dict(refused or {}), why=why)

