"""``streaminfer demo`` and ``streaminfer build-models``."""

from __future__ import annotations

import os
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
    rate: Annotated[Optional[float], typer.Option(  # noqa: UP045
        min=1, help="Events per second to produce. Default: 2,000; with --pictures 100; "
        "with --example 500 (text: 300).")
    ] = None,
    bad_every: Annotated[
        int, typer.Option(min=0, help="Make every Nth event malformed (0: none).")
    ] = 100,
    workers: Annotated[
        Optional[int], typer.Option(min=1, help="Override workers.count.")  # noqa: UP045
    ] = None,
    config: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        help="The demo pipeline YAML (default: configs/demo.yaml here, with --loop "
        "configs/demo-loop.yaml, with --pictures configs/demo-pictures.yaml, with --example "
        "the example's config; else the copy "
        "streaminfer ships).")] = None,
    shift_after: Annotated[Optional[int], typer.Option(  # noqa: UP045
        min=0, help="Shift the input distribution from this event on, so the drift alert "
        "fires (0: never). Default: 60,000; with --loop 30,000; with --pictures 3,000 (the "
        "light fades).")] = None,
    shift_sd: Annotated[float, typer.Option(
        help="How far the shifted features move, in standard deviations.")] = 2.0,
    label_delay_s: Annotated[float, typer.Option(
        min=0, help="Each event's label follows within this many seconds.")] = 5.0,
    loop: Annotated[bool, typer.Option(
        "--loop", help="The model's whole loop: served from a registry of the demo's own "
        "(.demo-loop/), retrained by itself when the shift makes live accuracy fall, gated, "
        "shadowed, promoted; the loop's steps on screen.")] = False,
    pictures: Annotated[bool, typer.Option(
        "--pictures", help="Pictures of apples and oranges, drawn as they are sent, named by "
        "a small CNN (configs/demo-pictures.yaml); labels follow, and the light fades after "
        "--shift-after pictures.")] = False,
    example: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--example", metavar="fraud-mixed|text|tokens",
        help="A typed example model live, its own config on the embedded broker with labels: "
        "fraud-mixed (strings beside numbers, configs/fraud-mixed.yaml), text (TF-IDF, "
        "configs/text-classifier.yaml), tokens (token ids and an embedding, "
        "configs/text-tokens.yaml). Default rate: 500 events/s, text 300.")] = None,
    broker_memory_cap_mb: Annotated[Optional[float], typer.Option(  # noqa: UP045
        min=0, help="The embedded broker keeps every record in memory: past this much "
        "resident memory (MB) the demo stops, drains and prints its books. Default: 4096; "
        "0: no cap.")] = None,
) -> None:
    """Train the demo model, run the demo pipeline on the embedded broker, feed it, watch it."""
    from streaminfer.pipelines.devtools.demo_run import BROKER_MEMORY_CAP_MB

    events = renamed(max_events, events, "--max-events", "--events")
    cap = BROKER_MEMORY_CAP_MB if broker_memory_cap_mb is None else broker_memory_cap_mb or None
    if example is not None:
        _typed_demo(example, loop=loop, pictures=pictures, config=config, events=events,
                    rate=rate, bad_every=bad_every, workers=workers,
                    label_delay_s=label_delay_s, cap=cap)
    if pictures:
        from streaminfer.pipelines.devtools.picture_demo import (
            PICTURE_RATE,
            PICTURE_SHIFT_AFTER,
            run_picture_demo,
        )

        if loop:
            raise typer.BadParameter("--loop runs the tabular demo's model loop; drop "
                                     "--loop or --pictures", param_hint="--pictures")
        code = run_picture_demo(
            config, events=events, rate=rate or PICTURE_RATE, bad_every=bad_every,
            workers=workers, console=out, label_delay_s=label_delay_s,
            shift_after=_shift_after(shift_after, PICTURE_SHIFT_AFTER),
            broker_memory_cap_mb=cap)
        raise typer.Exit(code)
    from streaminfer.pipelines.devtools.demo import run_demo

    code = run_demo(config, events=events, rate=rate or 2000.0, bad_every=bad_every,
                    workers=workers, console=out,
                    shift_after=_shift_after(shift_after, 30_000 if loop else 60_000),
                    shift_sd=shift_sd, label_delay_s=label_delay_s, loop=loop,
                    broker_memory_cap_mb=cap)
    raise typer.Exit(code)


def _typed_demo(name: str, *, loop: bool, pictures: bool, config: Path | None,
                events: int | None, rate: float | None, bad_every: int,
                workers: int | None, label_delay_s: float, cap: float | None) -> None:
    """``demo --example NAME``: exits with the demo's status."""
    from streaminfer.pipelines.devtools.typed_demo import run_typed_demo
    from streaminfer.pipelines.devtools.typed_feeds import TYPED_EXAMPLES

    if name not in TYPED_EXAMPLES:
        raise typer.BadParameter(f"no example {name!r}; choose one of "
                                 f"{', '.join(TYPED_EXAMPLES)}", param_hint="--example")
    if loop or pictures:
        raise typer.BadParameter("--example runs a typed example's model; drop --loop and "
                                 "--pictures", param_hint="--example")
    raise typer.Exit(run_typed_demo(
        name, config, events=events, rate=rate, bad_every=bad_every, workers=workers,
        console=out, label_delay_s=label_delay_s, broker_memory_cap_mb=cap))


def _shift_after(given: int | None, default: int) -> int | None:
    """The event the input shifts at (``None``: never)."""
    if given is None:
        return default
    return given or None


def build_models(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write to.")] = Path("models"),
    force: Annotated[bool, typer.Option(help="Retrain even if a model file exists.")] = False,
) -> None:
    """Train the example models (scikit-learn's bundled data) and export them to ONNX."""
    from streaminfer.errors import ConfigError
    from streaminfer.pipelines.devtools.example_models import build_all

    if out_dir.is_symlink() and not out_dir.exists():
        raise ConfigError(f"--out {out_dir}: a link to {os.readlink(out_dir)}, which does not "
                          "exist; create that folder, or remove the link")
    for path in build_all(out_dir, force=force):
        out.print(f"{path}  (sha256 in {path.name}.sha256)")
        held_out = path.with_suffix(".validation.parquet")
        if held_out.exists():
            out.print(f"{held_out}  (held-out rows for `streaminfer optimize --data`)")
