"""``streaminfer validate``: offline validation of a model on labelled data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from streaminfer.cli.common import ConfigArg, Servers, err, out


def validate(
    path: ConfigArg,
    data: Annotated[str, typer.Option(
        help="Labelled rows: a CSV, JSONL or Parquet file, or a topic range "
             "kafka:TOPIC?start=S&end=E (offsets, END exclusive; earliest/latest; "
             "P:OFF,...), e.g. of the training topic.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for report.html and "
                                                        "report.json.")],
    model: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        help="Model file to validate instead of the config's.")] = None,
    compare: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        help="A second model file, reported side by side.")] = None,
    model_name: Annotated[Optional[str], typer.Option(  # noqa: UP045
        help="Which of the config's models (when it has several).")] = None,
    label_field: Annotated[str, typer.Option(help="Column holding the label.")] = "label",
    alerts: Annotated[Optional[str], typer.Option(  # noqa: UP045
        help="Alerts that mark the timeline's moments (retrain, candidate, shadow, promote, "
             "swap, rollback, drift): kafka:TOPIC or a JSON lines file. Default: with "
             "--data kafka:..., the config's rollout.alerts_topic and drift.alerts_topic.")
    ] = None,
    slice_field: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--slice", help="A field of the rows (or a feature): the primary metric per value "
                        "(the 8 most frequent, then 'other'; quartiles of a numeric field).")
    ] = None,
    log_to_registry: Annotated[bool, typer.Option(
        "--log-to-registry", help="Also log report.json, report.html and the metrics as "
                                  "an MLflow run of the config's registry.")] = False,
    bootstrap_servers: Servers = None,
) -> None:
    """Score labelled data with the config's model (and --compare another), and write an
    HTML report with plots and a JSON of the same numbers; the metric over time per version
    marks the rollout moments."""
    from streaminfer.pipelines.spec.loader import load_spec
    from streaminfer.pipelines.validation.moments import utc
    from streaminfer.pipelines.validation.run import validate as run_validation

    spec = load_spec(path)
    result = run_validation(spec, data, out_dir, model_path=model, compare=compare,
                            model_name=model_name, label_field=label_field,
                            bootstrap_servers=bootstrap_servers, console=err, alerts=alerts,
                            slice_field=slice_field, log_to_registry=log_to_registry)
    table = Table(title=f"validation on {result.rows:,} rows", title_justify="left")
    table.add_column("metric")
    for report in result.reports:
        table.add_column(report.label, justify="right")
    for metric in dict.fromkeys(m for r in result.reports for m in r.metrics):
        table.add_row(metric, *(f"{r.metrics.get(metric, float('nan')):.4f}"
                                for r in result.reports))
    out.print(table)
    if result.timeline is not None:
        marks = result.timeline
        out.print(f"timeline: {len(marks.moments)} moments ({marks.alerts_read:,} alerts read"
                  f"{' from ' + ', '.join(marks.alerts_from) if marks.alerts_from else ''})")
        for moment in marks.moments:
            out.print(f"  {utc(moment.ts_ms)}  {moment.label}", highlight=False)
    out.print(f"wrote {result.html_path} and {result.json_path}")
    if result.run_id is not None:
        out.print(f"logged to the registry as run {result.run_id}")
