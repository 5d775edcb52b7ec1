"""``streaminfer batch``: score files or a topic range with a pipeline's model, resumably."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal, Optional

import typer

from streaminfer.cli.common import ConfigArg, err, out, renamed

if TYPE_CHECKING:
    from streaminfer.pipelines.batch.job import BatchJob, BatchSummary


def batch(
    path: ConfigArg,
    input: Annotated[str, typer.Option(
        "--input", "-i", help="Parquet/CSV/JSONL file, folder or glob (local or a URI such "
        "as s3://...): with a model that takes pictures, picture files too (.jpg, .png, "
        ".webp: each one event, its id the path in the folder); or "
        "kafka:TOPIC?start=earliest&end=latest (offsets: 0:100,1:50; time:ISO-8601).")],
    out_to: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--out", "-o", help="Folder for the part files, or kafka:TOPIC (required).")] = None,
    output: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--output", hidden=True, help="The old name of --out.")] = None,
    input_format: Annotated[
        Optional[str],  # noqa: UP045 - typer reads the annotation at run time
        typer.Option(help="parquet, csv or jsonl; default: from each file's suffix."),
    ] = None,
    output_format: Annotated[
        str, typer.Option(help="parquet or jsonl (file outputs).")
    ] = "parquet",
    actors: Annotated[
        Optional[int], typer.Option(min=1, help="Override batch.actors.")  # noqa: UP045
    ] = None,
    address: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(help="Ray cluster address (ray://host:10001); default: the YAML's, "
                     "else a local Ray."),
    ] = None,
    bootstrap_servers: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--bootstrap-servers", "-b", help="Kafka for topic inputs and outputs; "
                     "default: the YAML's."),
    ] = None,
    manifest: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(help="Manifest file; default: OUTPUT/_manifest.json, or "
                     "batch-TOPIC.manifest.json here for a topic output."),
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show the progress bar.")] = True,
) -> None:
    """Score a dataset with the pipeline's model on Ray Data (one actor and no Ray: in this
    process, see batch.runner); run it again to resume."""
    from streaminfer.errors import ConfigError
    from streaminfer.pipelines.batch.job import BatchJob
    from streaminfer.pipelines.spec.loader import load_spec

    output = renamed(out_to, output, "--out", "--output")
    if output is None:
        raise ConfigError("give --out: a folder for the part files, or kafka:TOPIC")
    if output_format not in ("parquet", "jsonl"):
        raise ConfigError(f"--output-format {output_format}: use parquet or jsonl")
    fmt: Literal["parquet", "jsonl"] = "jsonl" if output_format == "jsonl" else "parquet"
    spec = load_spec(path).with_overrides(ray_address=address)
    job = BatchJob(spec, input, output, input_format=input_format, output_format=fmt,
                   actors=actors, manifest=manifest, bootstrap_servers=bootstrap_servers)
    summary = _run(job, progress)
    state = "complete" if summary.complete else (
        f"stopped, {summary.units - summary.units_done} of {summary.units} units left; "
        "run the same command again to resume")
    out.print(
        f"{state}: {summary.rows:,} rows = {summary.predictions:,} predictions + "
        f"{summary.dead_letters:,} dead letters; this run {summary.rows_this_run:,} rows in "
        f"{summary.seconds:.1f}s ({summary.rows_per_s:,.0f} rows/s); "
        f"units {summary.units_done}/{summary.units} ({summary.units_skipped} skipped as done)"
    )


def _run(job: BatchJob, progress: bool) -> BatchSummary:
    """Plan (before Ray starts, so bad input fails fast), then run with a progress bar; the
    first SIGINT/SIGTERM stops after the next unit, with the manifest in order."""
    from streaminfer.pipelines.batch.progress import RowsProgress
    from streaminfer.pipelines.process.stop_signals import StopSignals

    bar = RowsProgress(err) if progress and err.is_terminal else None
    with StopSignals("stopping: finishing the units under way (again to abort)") as signals:
        try:
            return job.run(progress=bar, stop=signals.event)
        finally:
            if bar is not None:
                bar.stop()
