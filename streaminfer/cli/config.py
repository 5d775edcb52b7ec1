"""``streaminfer validate-config`` and ``streaminfer schema``."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.markup import escape

from streaminfer.cli.common import ConfigArg, out


def validate_config(
    path: ConfigArg,
    model: Annotated[bool, typer.Option(help="Also load the model and check it fits.")] = True,
) -> None:
    """Check a pipeline YAML (and its model) without starting anything."""
    from streaminfer.pipelines.online.checks import check
    from streaminfer.pipelines.spec.loader import load_spec

    spec = load_spec(path)
    detail = check(spec) if model else "model not checked"
    out.print(f"[green]ok[/green] {path}: pipeline {spec.name}: {escape(detail)}")


def schema(
    markdown: Annotated[bool, typer.Option(help="The Markdown reference instead.")] = False,
) -> None:
    """Print the pipeline YAML schema (JSON Schema, with a description of every field)."""
    from streaminfer.pipelines.spec.docs import markdown_reference
    from streaminfer.pipelines.spec.schema import PipelineSpec

    if markdown:
        sys.stdout.write(markdown_reference())
    else:
        out.print_json(json.dumps(PipelineSpec.model_json_schema()))
