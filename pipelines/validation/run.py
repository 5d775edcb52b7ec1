"""``streaminfer validate``: read labelled rows, score them with one or two models, report."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from streaminfer.errors import ConfigError
from streaminfer.pipelines.lifecycle.resolve import resolve_registry_models
from streaminfer.pipelines.spec.schema import ModelSpec, PipelineSpec
from streaminfer.pipelines.validation.alerts_source import read_alerts
from streaminfer.pipelines.validation.data import load_rows
from streaminfer.pipelines.validation.model_report import ModelReport, evaluate
from streaminfer.pipelines.validation.moments import Timeline, timeline
from streaminfer.pipelines.validation.registry_log import log_report
from streaminfer.pipelines.validation.report import write_report


@dataclass(frozen=True)
class Validation:
    """What one run wrote, and the numbers in it."""

    json_path: Path
    html_path: Path
    rows: int
    reports: list[ModelReport]
    timeline: Timeline | None = None
    run_id: str | None = None  # the registry's run, with --log-to-registry


def chosen_model(spec: PipelineSpec, name: str | None) -> ModelSpec:
    """The config's model (or the one called ``name`` among its ``models``)."""
    models = spec.model_specs
    names = ", ".join(m.model_name for m in models)
    if name is not None:
        for model in models:
            if model.model_name == name:
                return model
        raise ConfigError(f"no model {name!r} in the config; it has {names}")
    if len(models) > 1:
        raise ConfigError(f"the config has several models ({names}); choose one with "
                          "--model-name")
    return models[0]


def validate(
    spec: PipelineSpec, data: str, out_dir: Path, *, model_path: Path | None = None,
    compare: Path | None = None, model_name: str | None = None, label_field: str = "label",
    bootstrap_servers: str | None = None, console: Console | None = None,
    alerts: str | None = None, slice_field: str | None = None, log_to_registry: bool = False,
) -> Validation:
    """Score ``data`` with the config's model (``model_path`` overrides its file) and, with
    ``compare``, another model file too; write ``report.json`` and ``report.html``.

    The timeline of the metric per version marks the rollout moments: from the data, and
    from ``alerts`` (``kafka:TOPIC`` or a JSON lines file; default: the config's alert topics
    when ``data`` is a topic). ``slice_field``: the primary metric per value of that field.
    ``log_to_registry``: both files and the metrics as a run of the config's registry."""
    console = console or Console(stderr=True)
    if model_path is None:
        spec = resolve_registry_models(spec)  # models:/NAME@ALIAS: the version it names now
    model = chosen_model(spec, model_name)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True,
                  disable=not console.is_terminal) as progress:
        reading = progress.add_task("reading", total=None)
        rows = load_rows(spec, data, label_field=label_field,
                         bootstrap_servers=bootstrap_servers,
                         as_events=model.inputs is not None or model.tokenizer is not None,
                         progress=lambda n: progress.advance(reading, n))
        progress.update(reading, total=len(rows.y), completed=len(rows.y))
        reports = []
        for path in [model_path or model.path, *([compare] if compare else [])]:
            task = progress.add_task(f"scoring with {Path(path).name}", total=len(rows.y))
            reports.append(evaluate(model, rows, path=Path(path), slice_field=slice_field,
                                    advance=partial(progress.advance, task)))
    read = read_alerts(spec, alerts, data=data, bootstrap_servers=bootstrap_servers)
    marks = timeline(rows.table, read.alerts if read else (), read.where if read else ())
    json_path, html_path = write_report(out_dir, data, len(rows.y), reports, marks)
    run_id = (log_report(spec, data, reports, [json_path, html_path]) if log_to_registry
              else None)
    return Validation(json_path, html_path, len(rows.y), reports, marks, run_id)
