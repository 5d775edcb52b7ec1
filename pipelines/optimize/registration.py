"""Where ``optimize`` starts (a file, or a version in the model registry) and registering the
chosen variant in the MLflow registry with its lineage.

A registered variant is an ordinary version (``produced_by=optimize``): its run holds the
variant's ONNX file, the original's training profile re-addressed to the variant (so drift
works for it), and the measured numbers as metrics; its tags hold the technique, the settings
(JSON), the parent (``parent_version`` when MODEL was a ``models:/`` reference, else
``parent_file``; ``parent_sha256`` always) and ``gate=passed`` (it is within ``--max-loss``).
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, replace
from pathlib import Path

from streaminfer.errors import ConfigError, DataError, ModelError
from streaminfer.operators.model_runner import read_model_file, sha256_hex
from streaminfer.operators.profile import Profile, profile_path
from streaminfer.pipelines.lifecycle.registry import (
    TAG_GATE,
    TAG_GATE_REASON,
    Lineage,
    ModelVersion,
    Registry,
)
from streaminfer.pipelines.optimize.compare import loss_words
from streaminfer.pipelines.optimize.run import Report, VariantReport
from streaminfer.pipelines.optimize.timing import Speed
from streaminfer.pipelines.spec.model_spec import parse_model_ref

log = logging.getLogger(__name__)
TAG_TECHNIQUE = "technique"
TAG_SETTINGS = "settings"
TAG_VARIANT = "variant"
TAG_PARENT_MODEL = "parent_model"
TAG_PARENT_FILE = "parent_file"
TAG_PARENT_SHA256 = "parent_sha256"
TAG_CLASSES = "classes"  # a classifier's classes, as retrain records them


@dataclass(frozen=True)
class Origin:
    """The model ``optimize`` started from: its local file, and its registry version when
    MODEL was a ``models:/`` reference."""

    file: Path
    sha256: str
    reference: str  # as the user gave it
    version: ModelVersion | None = None

    @property
    def name(self) -> str:
        """The default registered name: the reference's model, else the file's stem."""
        return self.version.name if self.version else self.file.stem

    def lineage(self) -> Lineage:
        return Lineage("optimize", parent_version=self.version.version if self.version else None)

    def tags(self) -> dict[str, str]:
        tags = {TAG_PARENT_SHA256: self.sha256}
        if self.version is None:
            tags[TAG_PARENT_FILE] = str(self.file.resolve())
            return tags
        tags[TAG_PARENT_MODEL] = self.version.name
        if TAG_CLASSES in self.version.tags:  # the variant's outputs are the original's
            tags[TAG_CLASSES] = self.version.tags[TAG_CLASSES]
        return tags


def open_model(model: str, registry: Registry) -> Origin:
    """A model file (checked against its ``.sha256`` when there is one), or a registry
    reference resolved and downloaded (checked against the registry's sha256)."""
    try:
        ref = parse_model_ref(model)
    except ValueError as exc:
        raise ConfigError(f"MODEL: {exc}") from None
    if ref is None:
        return Origin(Path(model), sha256_hex(read_model_file(model)), model)
    version = registry.resolve_ref(ref)
    return Origin(registry.fetch(version), version.sha256, str(ref), version)


def variant_metrics(v: VariantReport) -> dict[str, float]:
    """The variant's measured numbers as registry metrics: quality (``accuracy``...), its
    change against the original (``delta.<metric>``, ``loss``), ``agreement``, ``speedup``,
    ``size_bytes`` and per device ``<device>.latency_ms.b1``, ``<device>.rows_per_s.b<N>``,
    ``<device>.load_ms``. Numbers that are not finite are left out."""
    found: dict[str, float | int | None] = {
        **v.metrics, **{f"delta.{k}": x for k, x in v.delta.items()},
        "loss": v.loss, "agreement": v.agreement, "speedup": v.speedup,
        "size_bytes": v.size_bytes,
    }
    for device, speed in v.speed.items():
        if isinstance(speed, Speed):
            found[f"{device}.latency_ms.b1"] = speed.latency_ms_b1
            found[f"{device}.load_ms"] = speed.load_ms
            for batch, rate in speed.rows_per_s.items():
                found[f"{device}.rows_per_s.b{batch}"] = rate
    return {k: float(x) for k, x in found.items() if x is not None and math.isfinite(x)}


def variant_tags(report: Report, v: VariantReport, origin: Origin) -> dict[str, str]:
    """Technique, settings (JSON), the data it was judged on and the verdict, the parent."""
    assert v.loss is not None
    return {
        TAG_TECHNIQUE: v.technique, TAG_SETTINGS: json.dumps(v.settings, sort_keys=True),
        TAG_VARIANT: v.name, "optimize.data": report.data, "optimize.rows": str(report.rows),
        "optimize.max_loss": str(report.max_loss), TAG_GATE: "passed",
        TAG_GATE_REASON: f"optimize: {loss_words(v.loss, report.primary_metric)} "
                         f"(max loss {report.max_loss:.2%})",
        **origin.tags(),
    }


def variant_profile(origin: Origin, variant_file: Path, variant_sha256: str) -> Path | None:
    """The original's training profile, addressed to the variant, beside the variant's file
    (``None`` when the original has none that fits it). The training rows are the same and
    the variant's outputs agree with the original's as measured."""
    source = profile_path(origin.file)
    if not source.is_file():
        return None
    try:
        profile = Profile.read(source)
    except DataError as exc:
        log.warning("no profile for the variant: %s", exc)
        return None
    if profile.model_sha256 not in (None, origin.sha256):
        log.warning("no profile for the variant: %s profiles another model file", source)
        return None
    copied = replace(profile, model_sha256=variant_sha256,
                     extra={**profile.extra, "profiled_model_sha256": origin.sha256})
    return copied.write(profile_path(variant_file))


def register_best(report: Report, origin: Origin, registry: Registry, name: str, *,
                  alias: str | None = "challenger") -> ModelVersion | None:
    """Register the report's chosen variant as the next version of ``name`` and point
    ``alias`` at it; ``None`` when no variant was chosen."""
    if report.chosen is None:
        return None
    v = report.variant(report.chosen)
    assert v.file is not None and v.sha256 is not None
    file = Path(v.file)
    if sha256_hex(read_model_file(file)) != v.sha256:
        raise ModelError(f"{file} changed after it was measured; run optimize again")
    version = registry.register_model(
        name, file, metrics=variant_metrics(v), lineage=origin.lineage(),
        tags=variant_tags(report, v, origin),
        profile_path=variant_profile(origin, file, v.sha256))
    if alias:
        registry.set_alias(name, alias, version.version)
        version = replace(version, aliases=(alias,))
    report.registered = version.uri
    return version


ARTIFACT_DIR = "optimize"


def run_metrics(report: Report) -> dict[str, float]:
    """Every measured variant's numbers (:func:`variant_metrics`) under ``VARIANT.``."""
    return {f"{v.name}.{key}": value for v in report.variants
            for key, value in variant_metrics(v).items()}


def log_report(report: Report, registry: Registry, files: list[Path]) -> str:
    """``--log-to-registry``: ``files`` (report.json, report.png) and every variant's numbers
    as one run of the registry's experiment, so optimizations compare in the MLflow UI; the
    run id."""
    tags = {"streaminfer.kind": "optimize", "streaminfer.model": report.model,
            "streaminfer.sha256": report.model_sha256, "streaminfer.data": report.data,
            "streaminfer.rows": str(report.rows), "streaminfer.max_loss": str(report.max_loss),
            "streaminfer.chosen": report.chosen or "none"}
    if report.registered:
        tags["streaminfer.registered"] = report.registered
    return registry.log_run(f"optimize-{Path(report.model).stem}", metrics=run_metrics(report),
                            artifacts=files, artifact_dir=ARTIFACT_DIR, tags=tags)
