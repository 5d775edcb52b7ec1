"""``streaminfer optimize``: try graph optimization, int8, fp16 and pruning on a model,
measured on labelled rows; print the comparison, write JSON and a PNG, register the best."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from streaminfer.cli.common import out, renamed

if TYPE_CHECKING:
    from streaminfer.pipelines.spec.schema import PipelineSpec


def _floats(text: str, what: str) -> tuple[float, ...]:
    from streaminfer.errors import ConfigError

    try:
        values = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ConfigError(f"{what}: {text!r} is not a comma-separated list of numbers") from None
    if any(not 0 <= v < 1 for v in values):
        raise ConfigError(f"{what}: every value must be in [0, 1), got {text!r}")
    return values


def optimize(
    model: Annotated[str, typer.Argument(metavar="MODEL",
                                         help="The ONNX model file (checked against its "
                                              ".sha256 file when there is one), or a registry "
                                              "version: models:/NAME@ALIAS, models:/NAME/N.")],
    data: Annotated[Path, typer.Option("--data", "-d", help="Labelled rows: CSV, JSONL or "
                                       "Parquet (e.g. models/digits_mlp.validation.parquet).")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for the variants, "
                                          "report.json and report.png.")],
    config: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--config", "-c", help="Pipeline YAML: feature names (source.features or "
        "source.features_field), batching.max_size, optimize and registry sections.")] = None,
    label_field: Annotated[str, typer.Option(help="The label column.")] = "label",
    label_old: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--label", hidden=True, help="The old name of --label-field.")] = None,
    max_loss: Annotated[Optional[float], typer.Option(  # noqa: UP045
        min=0, help="Reject variants whose primary metric (accuracy; RMSE for regressors) is "
        "worse than the original's by more than this share (0.005 = 0.5%; default: the "
        "YAML's optimize.max_loss, else 0.005).")] = None,
    register: Annotated[bool, typer.Option(
        help="Register the fastest accepted variant in the model registry, with its "
        "lineage, and point --alias at it.")] = False,
    name: Annotated[Optional[str], typer.Option(  # noqa: UP045
        help="Registered model name (default: NAME of a models:/ MODEL, else the model "
        "file's name).")] = None,
    alias: Annotated[Optional[str], typer.Option(  # noqa: UP045
        help="Alias for the registered variant (default: the YAML's retrain.alias_on_pass, "
        "else challenger); promote it with streaminfer models promote.")] = None,
    no_alias: Annotated[bool, typer.Option(
        "--no-alias", help="Register without moving any alias.")] = False,
    tracking_uri: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--tracking-uri", help="MLflow tracking URI; default: the YAML's registry section, "
        "else MLFLOW_TRACKING_URI, else sqlite:///mlflow.db here.")] = None,
    sparsities: Annotated[Optional[str], typer.Option(  # noqa: UP045
        help="Magnitude pruning levels, e.g. 0.5,0.9.")] = None,
    prune: Annotated[Optional[str], typer.Option(  # noqa: UP045
        help="Structured pruning: shares of hidden units to remove, e.g. 0.25,0.5.")] = None,
    rounds: Annotated[int, typer.Option(
        min=1, help="Timing rounds; each variant's best round is kept.")] = 5,
) -> None:
    """Make and compare optimized variants of MODEL on labelled DATA."""
    from streaminfer.operators.labelled_rows import labelled_rows, read_table
    from streaminfer.pipelines.lifecycle.registry import Registry
    from streaminfer.pipelines.optimize.registration import open_model, register_best
    from streaminfer.pipelines.optimize.report import reasons, table, write_json, write_png
    from streaminfer.pipelines.optimize.run import Settings
    from streaminfer.pipelines.optimize.run import optimize as run_optimize
    from streaminfer.pipelines.spec.loader import load_spec
    from streaminfer.pipelines.spec.optimize_spec import OptimizeSpec

    label = renamed(label_field, label_old, "--label-field", "--label", "label")
    table_data = read_table(data)
    spec = load_spec(config) if config else None
    registry = Registry.from_spec(spec.registry if spec else None, tracking_uri)
    origin = open_model(model, registry)
    features, features_field, batches = _features(spec, table_data.column_names, label)
    rows = labelled_rows(table_data, features, label, features_field, where=str(data))
    levels = (spec.optimize if spec else None) or OptimizeSpec()
    settings = Settings(
        max_loss=levels.max_loss if max_loss is None else max_loss, batches=batches,
        rounds=rounds, calibration_rows=levels.calibration_rows,
        sparsities=levels.sparsities if sparsities is None else _floats(sparsities,
                                                                         "--sparsities"),
        fractions=levels.prune if prune is None else _floats(prune, "--prune"))
    report = run_optimize(origin.file, rows, out_dir, data_name=str(data), settings=settings,
                          model_ref=origin.reference)
    if register:
        role = None if no_alias else alias or _default_alias(spec)
        version = register_best(report, origin, registry, name or origin.name, alias=role)
        said = f" as {role}" if role else ""
        out.print(f"registered {report.chosen}: {version.uri}{said} in {registry.uri}"
                  if version else
                  "nothing registered: no accepted variant is faster than the original")
    if not out.is_terminal:
        out.width = max(out.width, 160)  # to a file or a pipe: the table unwrapped
    out.print(table(report))
    for line in reasons(report):
        out.print(f"  {line}", highlight=False)
    out.print(f"{write_json(report, out_dir / 'report.json')}  "
              f"{write_png(report, out_dir / 'report.png')}")


def _default_alias(spec: PipelineSpec | None) -> str:
    """The alias a passing candidate gets, as for retrain: the YAML's retrain.alias_on_pass,
    else challenger."""
    return spec.retrain.alias_on_pass if spec and spec.retrain else "challenger"


def _features(spec: PipelineSpec | None, columns: list[str],
              label: str) -> tuple[list[str] | None, str | None, tuple[int, ...]]:
    """Feature names (or the list field) and batch sizes, from the pipeline YAML or else
    the file's columns in order, less the label."""
    if spec is None:
        return [c for c in columns if c != label], None, (256,)
    features = list(spec.source.features) if spec.source.features else None
    return features, spec.source.features_field, tuple(sorted({256, spec.batching.max_size}))
