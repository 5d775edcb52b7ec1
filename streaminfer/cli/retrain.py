"""``streaminfer retrain CONFIG``: a candidate from labelled examples, gated and registered."""

from __future__ import annotations

import math
import sys
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from streaminfer.cli.common import ConfigArg, Servers, err, out


def retrain(
    path: ConfigArg,
    address: Annotated[
        Optional[str],  # noqa: UP045 - typer reads the annotation at run time
        typer.Option(help="Ray address (ray://host:10001, or auto): train there as a Ray "
                     "task; default: in this process."),
    ] = None,
    servers: Servers = None,
    tracking_uri: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--tracking-uri", help="MLflow tracking URI (overrides the YAML's)."),
    ] = None,
) -> None:
    """Train a candidate on labelled examples, measure it and the champion on the newest
    ones, register it, and give it the challenger alias if it passes the gate (exit code 1
    when the gate rejects it)."""
    from streaminfer.pipelines.lifecycle.registry import Registry
    from streaminfer.pipelines.lifecycle.retrain import retrain as run_retrain
    from streaminfer.pipelines.spec.loader import load_spec

    spec = load_spec(path)
    if servers:
        spec = spec.model_copy(update={
            "kafka": spec.kafka.model_copy(update={"bootstrap_servers": servers})})
    registry = Registry.from_spec(spec.registry, tracking_uri)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=err, disable=not err.is_terminal) as steps:
        result = run_retrain(spec, registry=registry, address=address, steps=steps)
    table = Table(title=f"holdout: {result.holdout_count} newest of "
                  f"{result.train_count + result.holdout_count} examples", title_justify="left")
    table.add_column("metric")
    table.add_column(f"candidate v{result.version.version}", justify="right")
    if result.champion_metrics is not None and result.champion is not None:
        table.add_column(f"champion v{result.champion.version}", justify="right")
    for key, value in result.metrics.items():
        row = [key, _num(value)]
        if result.champion_metrics is not None:
            row.append(_num(result.champion_metrics.get(key, math.nan)))
        table.add_row(*row)
    out.print(table)
    if result.skipped:
        out.print(f"{result.skipped} record(s) on the topic were not labelled examples")
    if result.refused:
        out.print(f"{result.refused} labelled example(s) refused by the model's inputs "
                  "(as the pipeline would dead-letter them), left out")
    if result.gate.passed:
        out.print(f"[green]gate passed[/green]: {result.version.uri} is "
                  f"{', '.join(result.version.aliases)}")
        return
    out.print(f"[red]gate rejected[/red] {result.version.uri}: {escape(result.gate.reason)}")
    sys.exit(1)


def _num(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.4f}"
