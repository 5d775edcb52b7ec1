"""``streaminfer demo`` and ``streaminfer build-models``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from streaminfer.cli.common import out, renamed


def demo(
    max_events: Annotated[
        Optional[int],  # noqa: UP045 - typer reads the annotation at run time
        typer.Option(min=1, help="Stop after this many events and print a summary."),
    ] = None,
    events: Annotated[Optional[int], typer.Option(  # noqa: UP045
        "--events", min=1, hidden=True, help="The old name of --max-events.")] = None,
    rate: Annotated[float, typer.Option(min=1, help="Events per second to produce.")] = 2000.0,
    bad_every: Annotated[
        int, typer.Option(min=0, help="Make every Nth event malformed (0: none).")
    ] = 100,
    workers: Annotated[
        Optional[int], typer.Option(min=1, help="Override workers.count.")  # noqa: UP045
    ] = None,
    config: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        help="The demo pipeline YAML (default: configs/demo.yaml here, with --loop "
        "configs/demo-loop.yaml, else the copy streaminfer ships).")] = None,
    shift_after: Annotated[Optional[int], typer.Option(  # noqa: UP045
        min=0, help="Shift the input distribution from this event on, so the drift alert "
        "fires (0: never). Default: 60,000; with --loop 30,000.")] = None,
    shift_sd: Annotated[float, typer.Option(
        help="How far the shifted features move, in standard deviations.")] = 2.0,
    label_delay_s: Annotated[float, typer.Option(
        min=0, help="Each event's label follows within this many seconds.")] = 5.0,
    loop: Annotated[bool, typer.Option(
        "--loop", help="The model's whole loop: served from a registry of the demo's own "
        "(.demo-loop/), retrained by itself when the shift makes live accuracy fall, gated, "
        "shadowed, promoted; the loop's steps on screen.")] = False,
    broker_memory_cap_mb: Annotated[Optional[float], typer.Option(  # noqa: UP045
        min=0, help="The embedded broker keeps every record in memory: past this much "
        "resident memory (MB) the demo stops, drains and prints its books. Default: 4096; "
        "0: no cap.")] = None,
) -> None:
    """Train the demo model, run the demo pipeline on the embedded broker, feed it, watch it."""
    from streaminfer.pipelines.devtools.demo import BROKER_MEMORY_CAP_MB, run_demo

    events = renamed(max_events, events, "--max-events", "--events")
    code = run_demo(config, events=events, rate=rate, bad_every=bad_every, workers=workers,
                    console=out, shift_after=_shift_after(shift_after, loop),
                    shift_sd=shift_sd,
                    label_delay_s=label_delay_s, loop=loop,
                    broker_memory_cap_mb=BROKER_MEMORY_CAP_MB if broker_memory_cap_mb is None
                    else broker_memory_cap_mb or None)
    raise typer.Exit(code)


def _shift_after(given: int | None, loop: bool) -> int | None:
    """The event the input shifts at (``None``: never)."""
    if given is None:
        return 30_000 if loop else 60_000
    return given or None


def build_models(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write to.")] = Path("models"),
    force: Annotated[bool, typer.Option(help="Retrain even if a model file exists.")] = False,
) -> None:
    """Train the example models (scikit-learn's bundled data) and export them to ONNX."""
    from streaminfer.pipelines.devtools.example_models import build_all

    for path in build_all(out_dir, force=force):
        out.print(f"{path}  (sha256 in {path.name}.sha256)")
        held_out = path.with_suffix(".validation.parquet")
        if held_out.exists():
            out.print(f"{held_out}  (held-out rows for `streaminfer optimize --data`)")
