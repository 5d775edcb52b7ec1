"""``streaminfer cluster ...``: render deployment files, submit a pipeline to a Ray cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape

from streaminfer.cluster.submit import DEFAULT_ADDRESS, DEFAULT_PIP

app = typer.Typer(
    name="cluster", no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
    rich_markup_mode=None,
    help="Deploy a pipeline: render Ray/KubeRay files, submit it to a running Ray cluster.",
)
out = Console()
err = Console(stderr=True)

PipelineArg = Annotated[Path, typer.Argument(metavar="CONFIG", help="Pipeline YAML file.")]


def _warn(lines: list[str]) -> None:
    for line in lines:
        err.print(f"[yellow]warning:[/yellow] {escape(line)}", highlight=False, soft_wrap=True)


@app.command()
def render(
    pipeline: PipelineArg,
    cluster: Annotated[
        Optional[Path],  # noqa: UP045 - typer reads the annotation at run time
        typer.Option("--cluster", "-c", help="Cluster description YAML (default: defaults)."),
    ] = None,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder to write to.")] = Path(
        "deploy"
    ),
    gpus_per_node: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(min=0, max=16, help="GPUs per node of the GPU worker group (overrides "
                     "gpu_workers.gpus_per_node; default: sized from what the pipeline asks "
                     "for; 0: no GPU group)."),
    ] = None,
) -> None:
    """Write ray-cluster.yaml (`ray up`), raycluster.yaml, rayjob.yaml and configmap.yaml."""
    from streaminfer.cluster.loader import load_cluster_spec
    from streaminfer.cluster.render import render_pipeline, write_rendered

    overrides: dict[str, Any] = {}
    if gpus_per_node is not None:
        overrides["gpu_workers"] = {"gpus_per_node": gpus_per_node}
    spec = load_cluster_spec(cluster, overrides=overrides)
    rendered = render_pipeline(pipeline, spec)
    _warn(rendered.warnings)
    for path in write_rendered(rendered, out_dir):
        out.print(escape(str(path)), highlight=False, soft_wrap=True)


@app.command()
def submit(
    pipeline: PipelineArg,
    address: Annotated[
        str,
        typer.Option(envvar="RAY_API_SERVER_ADDRESS",
                     help="The Ray dashboard's HTTP address (Jobs API)."),
    ] = DEFAULT_ADDRESS,
    pip: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--pip", help="pip requirement the job installs (repeatable); default: "
                     "streaminfer (already satisfied on the streaminfer images)."),
    ] = None,
    no_pip: Annotated[
        bool, typer.Option("--no-pip", help="Install nothing: the cluster has streaminfer.")
    ] = False,
    check: Annotated[
        bool, typer.Option("--check", help="Submit `streaminfer validate-config` instead of "
                           "`run`: checks the YAML and model on the cluster, then ends.")
    ] = False,
    submission_id: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--id", help="Submission id (default: one Ray makes up)."),
    ] = None,
) -> None:
    """Submit `streaminfer run PIPELINE` to a running Ray cluster as a Ray job."""
    from streaminfer.cluster.submit import submit_pipeline

    requirements: tuple[str, ...] = () if no_pip else tuple(pip or DEFAULT_PIP)
    submission = submit_pipeline(
        address, pipeline, pip=requirements, check_only=check, submission_id=submission_id
    )
    _warn(submission.warnings)
    out.print(escape(submission.job_id), highlight=False)
    err.print(
        f"follow it: ray job logs --follow --address {escape(address)} {escape(submission.job_id)}"
        f"\nstop it:   ray job stop --address {escape(address)} {escape(submission.job_id)}",
        highlight=False, soft_wrap=True,
    )
