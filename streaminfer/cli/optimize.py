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
    model: Annotated[str, typer.Argument(
        metavar="MODEL", help="The ONNX model file (checked against its .sha256 file when "
        "there is one), a registry version (models:/NAME@ALIAS, models:/NAME/N), or a "
        "pipeline YAML: its model, fed as it feeds it.")],
    data: Annotated[Path, typer.Option("--data", "-d", help="Labelled rows: CSV, JSONL or "
                                       "Parquet (e.g. models/digits_mlp.validation.parquet); "
                                       "for a model fed by model.inputs (pictures, text), "
                                       "rows holding the event's fields and the label.")],
    out_dir: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--out", "-o", help="Folder for the variants, report.json and report.png (default: "
        "optimized/NAME).")] = None,
    config: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--config", "-c", help="Pipeline YAML: feature names (source.features or "
        "source.features_field) or model.inputs, batching.max_size, optimize and registry "
        "sections.")] = None,
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
        help="Structured and channel pruning: shares of hidden units (and of convolutions' "
        "output channels) to remove, e.g. 0.25,0.5.")] = None,
    rounds: Annotated[int, typer.Option(
        min=1, help="Timing rounds; each variant's best round is kept.")] = 5,
    block_s: Annotated[Optional[float], typer.Option(  # noqa: UP045
        "--block-s", min=0.001, help="Seconds each variant is timed at each batch size in a "
        "round (default 0.2); shorter is quicker and noisier: --rounds 1 --block-s 0.02 "
        "for a quick look.")] = None,
    log_to_registry: Annotated[bool, typer.Option(
        "--log-to-registry", help="Also log report.json, report.png and every variant's "
                                  "numbers as an MLflow run of the registry.")] = False,
) -> None:
    """Make and compare optimized variants of MODEL on labelled DATA."""
    from streaminfer.pipelines.lifecycle.registry import Registry
    from streaminfer.pipelines.optimize.data import batch_sizes, read_data, the_model
    from streaminfer.pipelines.optimize.plot import write_png
    from streaminfer.pipelines.optimize.registration import log_report, open_model, register_best
    from streaminfer.pipelines.optimize.report import reasons, table, write_json
    from streaminfer.pipelines.optimize.run import Settings
    from streaminfer.pipelines.optimize.run import optimize as run_optimize
    from streaminfer.pipelines.spec.loader import load_spec
    from streaminfer.pipelines.spec.optimize_spec import OptimizeSpec

    label = renamed(label_field, label_old, "--label-field", "--label", "label")
    if Path(model).suffix.lower() in (".yaml", ".yml"):  # a pipeline: its model, its feed
        config, model = Path(model), str(the_model(load_spec(Path(model))).path)
    spec = load_spec(config) if config else None
    registry = Registry.from_spec(spec.registry if spec else None, tracking_uri)
    origin = open_model(model, registry)
    found = read_data(data, spec, origin.file, label)
    levels = (spec.optimize if spec else None) or OptimizeSpec()
    settings = Settings(
        max_loss=levels.max_loss if max_loss is None else max_loss, batches=batch_sizes(spec),
        rounds=rounds, block_s=Settings.block_s if block_s is None else block_s,
        calibration_rows=levels.calibration_rows,
        sparsities=levels.sparsities if sparsities is None else _floats(sparsities,
                                                                         "--sparsities"),
        fractions=levels.prune if prune is None else _floats(prune, "--prune"))
    out_dir = out_dir or Path("optimized") / origin.name
    report = run_optimize(origin.file, found.rows, out_dir, data_name=str(data),
                          settings=settings, model_ref=origin.reference, feed=found.feed,
                          refused=found.refused)
    if register:
        role = None if no_alias else alias or _default_alias(spec)
        version = register_best(report, origin, registry, name or origin.name, alias=role)
        said = f" as {role}" if role else ""
        out.print(f"registered {report.chosen}: {version.uri}{said} in {registry.uri}"
                  if version else
                  f"nothing registered: {report.why}")
    if not out.is_terminal:
        out.width = max(out.width, 160)  # to a file or a pipe: the table unwrapped
    out.print(table(report))
    for line in reasons(report):
        out.print(f"  {line}", highlight=False)
    out.print(f"  chosen: {report.chosen or 'none'}: {report.why}", highlight=False)
    if report.refused:
        out.print("  rows the model's inputs refused, left out: " + ", ".join(
            f"{count} {reason}" for reason, count in report.refused.items()), highlight=False)
    files = [write_json(report, out_dir / "report.json"), write_png(report, out_dir / "report.png")]
    out.print("  ".join(map(str, files)))
    if log_to_registry:
        out.print(f"logged to the registry as run {log_report(report, registry, files)}")


def _default_alias(spec: PipelineSpec | None) -> str:
    """The alias a passing candidate gets, as for retrain: the YAML's retrain.alias_on_pass,
    else challenger."""
    return spec.retrain.alias_on_pass if spec and spec.retrain else "challenger"

