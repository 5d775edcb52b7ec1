"""``streaminfer models``: the versions in the registry and their roles (aliases).

``promote`` and ``rollback`` move the registry's aliases (champion, challenger, previous);
``shadow`` and ``canary`` set the candidate's alias. Running pipelines that name
``models:/NAME@champion`` follow them within ``rollout.poll_interval_s`` (docs/rollout.md).
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from streaminfer.cli.common import JsonFlag, out, print_json
from streaminfer.errors import ConfigError
from streaminfer.pipelines.lifecycle.versions import version_label

if TYPE_CHECKING:
    from streaminfer.pipelines.lifecycle.registry import ModelVersion, Registry

app = typer.Typer(no_args_is_help=True, add_completion=False, rich_markup_mode=None)

Config = Annotated[
    Optional[Path],  # noqa: UP045 - typer reads the annotation at run time
    typer.Option("--config", "-c", help="Take the registry (and the model name) from this "
                 "pipeline YAML."),
]
TrackingUri = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--tracking-uri", help="MLflow tracking URI; default: the YAML's, else "
                 "MLFLOW_TRACKING_URI, else sqlite:///mlflow.db here."),
]
Name = Annotated[
    Optional[str],  # noqa: UP045
    typer.Argument(metavar="NAME",
                   help="Registered model name; default: the one the --config YAML names."),
]
SHOWN_METRICS = ("roc_auc", "accuracy", "log_loss", "r2", "rmse")


def open_registry(config: Path | None, tracking_uri: str | None, name: str | None, *,
                  create: bool = False) -> tuple[Registry, str | None]:
    """The registry and the model name from the options and the YAML; a local store that is
    not there is an error unless ``create`` (only ``register`` makes one)."""
    from streaminfer.pipelines.lifecycle.registry import Registry

    if config is None:
        return Registry(tracking_uri, create=create), name
    from streaminfer.pipelines.spec.loader import load_spec

    spec = load_spec(config)
    if name is None and spec.retrain is not None:
        from streaminfer.pipelines.lifecycle.retrain import registered_name

        name = registered_name(spec)
    refs = [m.registry_ref for m in spec.model_specs if m.registry_ref]
    if name is None and len(refs) == 1:
        name = refs[0].name
    return Registry.from_spec(spec.registry, tracking_uri, create=create), name


def _need(name: str | None) -> str:
    if name is None:
        raise ConfigError("name the model (or give --config with a models:/NAME@ALIAS path)")
    return name


def versions_table(registry: Registry, name: str) -> Table:
    """One row per version: roles, lineage, gate, holdout metrics, sha256."""
    # At 80 columns (a pipe, a plain terminal) the short cells stay whole and the long ones
    # (a gate's reason) wrap between words; a hash folds rather than being cut with "…".
    table = Table(title=f"{name} ({registry.uri})", title_justify="left",
                  box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                  collapse_padding=True)
    for column in ("version", "aliases", "made by", "gate", "metrics", "sha256", "created"):
        table.add_column(column, overflow="fold", no_wrap=column != "gate",
                         min_width=6 if column == "gate" else None)
    for version in registry.versions(name):
        made_by = version.tags.get("produced_by", "-")
        parent = version.tags.get("parent_version")
        table.add_row(version.version, "\n".join(version.aliases) or "-",
                      made_by + (f"\nfrom {version_label(parent)}" if parent else ""),
                      _gate(version), _metrics(registry.metrics(version)),
                      version.sha256[:12],
                      _created(version).strftime("%Y-%m-%d\n%H:%M UTC"))
    return table


def _gate(version: ModelVersion) -> str:
    verdict = version.tags.get("gate", "-")
    reason = version.tags.get("gate_reason")
    return f"{verdict}: {escape(reason)}" if reason else verdict


def _created(version: ModelVersion) -> datetime:
    return datetime.fromtimestamp(version.created_ms / 1000, timezone.utc)


def _metrics(metrics: dict[str, float]) -> str:
    shown = [f"{key} {metrics[key]:.4f}" for key in SHOWN_METRICS
             if key in metrics and not math.isnan(metrics[key])]
    return "\n".join(shown) or "-"


def versions_json(registry: Registry, name: str) -> list[dict[str, object]]:
    """What :func:`versions_table` shows, as JSON: the full sha256, every metric logged."""
    return [{"version": v.version, "aliases": list(v.aliases),
             "produced_by": v.tags.get("produced_by"),
             "parent_version": v.tags.get("parent_version"), "gate": v.tags.get("gate"),
             "gate_reason": v.tags.get("gate_reason"),
             "metrics": {k: m for k, m in registry.metrics(v).items() if not math.isnan(m)},
             "sha256": v.sha256, "source": v.source,
             "created": _created(v).isoformat()}
            for v in registry.versions(name)]


@app.command("list")
def list_models(name: Name = None, config: Config = None,
                tracking_uri: TrackingUri = None, as_json: JsonFlag = False) -> None:
    """The registered models, or one model's versions with their aliases and metrics."""
    registry, name = open_registry(config, tracking_uri, name)
    if as_json:
        print_json({"registry": registry.uri, "model": name,
                    "versions": versions_json(registry, name)} if name is not None else
                   {"registry": registry.uri,
                    "models": [{"name": each, "aliases": registry.aliases(each)}
                               for each in registry.names()]})
        return
    if name is not None:
        out.print(versions_table(registry, name))
        return
    names = registry.names()
    if not names:
        out.print(f"no registered models in {registry.uri}")
    for each in names:
        aliases = sorted(registry.aliases(each).items())
        roles = ", ".join(f"{a}={version_label(v)}" for a, v in aliases)
        out.print(f"{each}: {roles or 'no aliases'}")


@app.command("promote")
def promote(
    name: Name = None,
    version: Annotated[Optional[str], typer.Option(  # noqa: UP045
        help="Version to promote; default: the challenger.")] = None,
    force: Annotated[bool, typer.Option(help="Promote a version the gate rejected.")] = False,
    config: Config = None, tracking_uri: TrackingUri = None,
) -> None:
    """Make a version (default: the challenger) the champion; the old one becomes previous."""
    registry, name = open_registry(config, tracking_uri, name)
    moves = registry.promote(_need(name), version, force=force)
    _said(name, moves.set, moves.remove)


@app.command("rollback")
def rollback(name: Name = None, config: Config = None,
             tracking_uri: TrackingUri = None) -> None:
    """Make the previous champion the champion again."""
    registry, name = open_registry(config, tracking_uri, name)
    moves = registry.rollback(_need(name))
    _said(name, moves.set, moves.remove)


Version = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(help="Version to run; default: the challenger."),
]
Stop = Annotated[bool, typer.Option("--stop", help="End it (no candidate).")]


@app.command("shadow")
def shadow(name: Name = None, version: Version = None, stop: Stop = False,
           config: Config = None, tracking_uri: TrackingUri = None) -> None:
    """Let a version (default: the challenger) score a copy of every event in running
    pipelines; its predictions go to the shadow topic only (docs/rollout.md)."""
    from streaminfer.pipelines.lifecycle.swap_rule import candidate_moves

    registry, given = open_registry(config, tracking_uri, name)
    name = _need(given)
    moves = candidate_moves(registry.aliases(name), "shadow", version, stop=stop)
    registry.apply(name, moves)
    _said(name, moves.set, moves.remove)


@app.command("canary")
def canary(
    name: Name = None, version: Version = None,
    share: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of the events the "
                                         "version answers (stable per event id).")] = 0.1,
    force: Annotated[bool, typer.Option(help="Run a version the gate rejected.")] = False,
    stop: Stop = False, config: Config = None, tracking_uri: TrackingUri = None,
) -> None:
    """Let a version (default: the challenger) answer a share of the events in running
    pipelines, chosen by a hash of each event's id (docs/rollout.md)."""
    from streaminfer.pipelines.lifecycle.registry import TAG_GATE_REASON
    from streaminfer.pipelines.lifecycle.swap_rule import CANARY_SHARE_TAG, candidate_moves

    registry, given = open_registry(config, tracking_uri, name)
    name = _need(given)
    moves = candidate_moves(registry.aliases(name), "canary", version, stop=stop)
    if not stop:
        target = registry.resolve(name, moves.set["canary"])
        if target.rejected and not force:
            raise ConfigError(f"{target.uri} was rejected by the gate "
                              f"({target.tags.get(TAG_GATE_REASON, 'no reason recorded')}); "
                              "pass --force to run it as a canary anyway")
        registry.verify(target)  # before the share tag: a refused canary leaves no trace
        registry.tag(target, {CANARY_SHARE_TAG: str(share)})
    registry.apply(name, moves, verified=() if stop else (moves.set["canary"],))
    _said(name, moves.set, moves.remove)
    if not stop:
        out.print(f"  answering {share:.0%} of the events")


@app.command("register")
def register(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Registered model name.")],
    file: Annotated[Path, typer.Argument(metavar="FILE", help="ONNX model file.")],
    alias: Annotated[Optional[str], typer.Option(  # noqa: UP045
        help="Point this alias at the new version (e.g. champion).")] = None,
    config: Config = None, tracking_uri: TrackingUri = None,
) -> None:
    """Register an ONNX file as a new version (lineage: import)."""
    from streaminfer.operators.model_runner import read_model_file
    from streaminfer.pipelines.lifecycle.registry import Lineage

    read_model_file(file)  # exists, and matches a .sha256 beside it if there is one
    registry, _ = open_registry(config, tracking_uri, name, create=True)
    version = registry.register_model(name, file, metrics={}, lineage=Lineage("import"))
    if alias:
        registry.set_alias(name, alias, version.version)
    out.print(f"registered {version.uri} (sha256 {version.sha256[:12]})"
              + (f" as {alias}" if alias else ""))


def _said(name: str | None, moved: dict[str, str], removed: tuple[str, ...]) -> None:
    parts = [f"{alias} -> {version_label(version)}" for alias, version in moved.items()]
    parts += [f"{alias} removed" for alias in removed if alias not in moved]
    out.print(f"{name}: {', '.join(parts)}")
