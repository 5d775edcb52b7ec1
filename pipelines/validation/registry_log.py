"""``validate --log-to-registry``: the report as an MLflow run of the config's registry, so
validations compare in the MLflow UI."""

from __future__ import annotations

from pathlib import Path

from streaminfer.errors import ConfigError
from streaminfer.pipelines.lifecycle.registry import Registry
from streaminfer.pipelines.spec.schema import PipelineSpec
from streaminfer.pipelines.validation.model_report import ModelReport

ARTIFACT_DIR = "validation"


def run_metrics(reports: list[ModelReport]) -> dict[str, float]:
    """The first model's metrics by name, with ``NAME.low``/``NAME.high`` for the interval;
    a compared model's under ``compare.``."""
    out: dict[str, float] = {}
    for prefix, report in zip(("", "compare."), reports, strict=False):
        for name, value in report.metrics.items():
            out[f"{prefix}{name}"] = value
            low, high = report.intervals.get(name, (float("nan"), float("nan")))
            out[f"{prefix}{name}.low"], out[f"{prefix}{name}.high"] = low, high
    return out


def log_report(spec: PipelineSpec, data: str, reports: list[ModelReport],
               files: list[Path]) -> str:
    """Log ``files`` (report.json, report.html) and the metrics as one run of the config's
    registry; the run id."""
    if spec.registry is None:
        raise ConfigError("--log-to-registry: the config has no registry section; add "
                          "registry: {tracking_uri: ...} (docs/registry.md)")
    first = reports[0]
    tags = {"streaminfer.kind": "validate", "streaminfer.model": first.name,
            "streaminfer.model_version": first.version, "streaminfer.sha256": first.sha256,
            "streaminfer.data": data, "streaminfer.rows": str(first.rows)}
    if len(reports) > 1:
        tags["streaminfer.compare"] = reports[1].path
    return Registry.from_spec(spec.registry).log_run(
        f"validate-{first.name}", metrics=run_metrics(reports), artifacts=files,
        artifact_dir=ARTIFACT_DIR, tags=tags)
