"""``streaminfer join`` (the joiners alone) and ``streaminfer status`` (a running pipeline)."""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from streaminfer.cli.common import (
    ConfigArg,
    JsonFlag,
    Servers,
    err,
    out,
    print_json,
)
from streaminfer.errors import ConfigError
from streaminfer.pipelines.lifecycle.versions import version_label

if TYPE_CHECKING:
    from streaminfer.pipelines.feedback.live_metrics import FeedbackSummary
    from streaminfer.pipelines.feedback.status import PipelineStatus
    from streaminfer.pipelines.rollout.status import ModelServing
    from streaminfer.pipelines.spec.schema import PipelineSpec

log = logging.getLogger(__name__)


def join(
    path: ConfigArg,
    servers: Servers = None,
    joiners: Annotated[
        Optional[int],  # noqa: UP045 - typer reads the annotation at run time
        typer.Option(min=1, help="Override feedback.joiners.count."),
    ] = None,
    live: Annotated[bool, typer.Option(help="Show the live table.")] = True,
) -> None:
    """Run only the feedback joiners of a pipeline (its workers run elsewhere); Ctrl-C drains."""
    from streaminfer.pipelines.spec.loader import load_spec

    spec = load_spec(path)
    if spec.feedback is None:
        raise ConfigError(f"{path} has no feedback section: nothing to join")
    # A YAML for split deployments says joiners.count: 0 (`run` starts none); here, one.
    spec = spec.with_overrides(joiners=joiners or spec.feedback.joiners.count or 1)
    bootstrap = servers or spec.kafka.bootstrap_servers
    if bootstrap == "embedded":
        raise ConfigError(f"{path} uses the embedded broker, which lives inside `streaminfer "
                          "run` (which starts the joiners itself); pass --bootstrap-servers")
    final = _run_joiners(spec, bootstrap, live=live and err.is_terminal)
    if final is not None:
        out.print(f"stopped: {final.matched:,} joined, {final.examples_out:,} examples out")


def _run_joiners(spec: PipelineSpec, bootstrap: str, *, live: bool) -> FeedbackSummary | None:
    """Ray, the metrics endpoint and the joiners until SIGINT/SIGTERM; the final summary."""
    from rich.live import Live

    from streaminfer.pipelines.feedback.service import FeedbackService
    from streaminfer.pipelines.online.live_view import feedback_table
    from streaminfer.pipelines.process.stop_signals import StopSignals
    from streaminfer.pipelines.runtime.metrics_server import MetricsServer
    from streaminfer.pipelines.runtime.ray_setup import start_ray
    from streaminfer.pipelines.spec.kafka_settings import client_config

    with StopSignals() as signals:
        owns_ray = start_ray(spec)
        metrics = (MetricsServer(spec.metrics.host, spec.metrics.port)
                   if spec.metrics.enabled else None)
        service: FeedbackService | None = None
        try:
            service = FeedbackService(spec, bootstrap, client_config(spec.kafka, bootstrap),
                                      metrics).start()
            if metrics is not None:
                thread = service.thread
                metrics.threads.watch(lambda: [e for e in [thread.last_error] if e])
            log.info("joining %s and %s into %s%s", spec.sink.predictions_topic,
                     service.fb.labels_topic, service.fb.training_topic,
                     f"; metrics {metrics.url}" if metrics else "")
            view = Live(console=err, auto_refresh=False) if live else None
            with view or contextlib.nullcontext():
                while not signals.event.wait(1.0):
                    if service.failure is not None:  # joiners crash again and again
                        raise service.failure
                    if view is not None:
                        view.update(feedback_table(service.summary()), refresh=True)
        finally:
            final = service.stop() if service is not None else None
            if metrics is not None:
                metrics.close()
            if owns_ray:
                import ray

                ray.shutdown()
    return final


def status(path: ConfigArg, as_json: JsonFlag = False) -> None:
    """Print a running pipeline's counters and live metrics (from its metrics endpoint)."""
    from rich.markup import escape
    from rich.table import Table

    from streaminfer.pipelines.feedback.status import fetch_metrics, parse_status
    from streaminfer.pipelines.online.live_view import feedback_table, models_table
    from streaminfer.pipelines.online.serving_metrics import read_serving
    from streaminfer.pipelines.spec.loader import load_spec

    spec = load_spec(path)
    if not spec.metrics.enabled:
        raise ConfigError(f"{path} has metrics.enabled: false; status reads the metrics "
                          "endpoint")
    url = f"http://{spec.metrics.host}:{spec.metrics.port}/metrics"
    text = fetch_metrics(url)
    status = parse_status(text)
    models = read_serving(text)
    if as_json:
        print_json(_status_json(spec.name, url, status, models))
        return
    table = Table(title=f"{spec.name} at {url}", title_justify="left")
    for column in ("workers", "events in", "predictions", "dead letters"):
        table.add_column(column, justify="right")
    table.add_row(f"{status.workers_alive:.0f}", f"{status.events_in:,.0f}",
                  f"{status.predictions:,.0f}", f"{status.dead_letters:,.0f}")
    out.print(table)
    for error in status.thread_errors:  # a driver thread failed, and goes on
        out.print(f"[bold red]{escape(error.describe())}[/bold red]")
    if models:
        out.print(models_table(models))
    for (model, version), (compared, agreed) in sorted(status.shadow.items()):
        share = f"{agreed / compared:.1%}" if compared else "-"
        out.print(f"shadow {model} {version_label(version)}: agrees with the served version "
                  f"on {share} of {compared:,.0f} events")
    if status.feedback is not None:
        out.print(feedback_table(status.feedback))
    elif spec.feedback is not None:
        out.print("no feedback metrics yet (the joiners have not reported)")


def _status_json(name: str, url: str, status: PipelineStatus,
                 models: list[ModelServing]) -> dict[str, Any]:
    """What ``status`` shows, as JSON: counters, models served, shadows, feedback."""
    from dataclasses import asdict

    feedback = None
    if status.feedback is not None:
        fb = status.feedback
        feedback = {**{k: v for k, v in asdict(fb).items() if k != "live"},
                    "matched": fb.matched,
                    "live": [{"model": model, "version": version, **metrics}
                             for (model, version), metrics in sorted(fb.live.items())]}
    return {
        "pipeline": name, "url": url, "workers_alive": int(status.workers_alive),
        "events_in": int(status.events_in), "predictions": int(status.predictions),
        "dead_letters": int(status.dead_letters),
        "models": [asdict(m) for m in models],
        "shadow": [{"model": model, "version": version, "compared": int(compared),
                    "agreed": int(agreed)}
                   for (model, version), (compared, agreed) in sorted(status.shadow.items())],
        "feedback": feedback,
        "thread_errors": [asdict(e) for e in status.thread_errors],
    }
