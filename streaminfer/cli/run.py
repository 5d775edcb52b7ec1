"""``streaminfer run``: a pipeline in the foreground."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from streaminfer.cli.common import ConfigArg, err, out


def run(
    path: ConfigArg,
    address: Annotated[
        Optional[str],  # noqa: UP045 - typer reads the annotation at run time
        typer.Option(help="Ray cluster address (ray://host:10001); default: the YAML's, "
                     "else a local Ray."),
    ] = None,
    workers: Annotated[
        Optional[int], typer.Option(min=1, help="Override workers.count.")  # noqa: UP045
    ] = None,
    joiners: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(min=0, help="Override feedback.joiners.count (0: none here; run them "
                     "with `streaminfer join`)."),
    ] = None,
    live: Annotated[bool, typer.Option(help="Show the live table.")] = True,
    max_events: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(min=1, help="Stop after this many events were read."),
    ] = None,
) -> None:
    """Run a pipeline in the foreground; Ctrl-C drains and stops it."""
    from streaminfer.api import Pipeline
    from streaminfer.pipelines.spec.loader import load_spec

    spec = load_spec(path).with_overrides(workers=workers, ray_address=address,
                                          joiners=joiners)
    final = Pipeline(spec).run(live=live and err.is_terminal, max_events=max_events)
    out.print(f"stopped: {final.events_in:,} events, {final.predictions:,} predictions, "
              f"{final.dead_letters:,} dead letters")
