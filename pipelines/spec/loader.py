"""Read a pipeline YAML into a :class:`PipelineSpec`, with errors a user can act on."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from streaminfer.errors import ConfigError
from streaminfer.pipelines.spec.config_io import format_validation_error, parse_yaml, read_text
from streaminfer.pipelines.spec.schema import PipelineSpec


def load_spec(path: str | Path) -> PipelineSpec:
    """Parse and validate ``path``; relative paths inside it resolve against its folder."""
    path = Path(path)
    return parse_spec(read_text(path), source=str(path), base=path.resolve().parent)


def parse_spec(text: str, *, source: str = "<string>", base: Path | None = None) -> PipelineSpec:
    """Validate YAML text; ``source`` names it in errors, ``base`` anchors relative paths."""
    data = parse_yaml(text, source)
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: the file must be a YAML mapping with keys name, source, model, sink "
            f"(found {type(data).__name__})"
        )
    try:
        spec = PipelineSpec.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            format_validation_error(exc, source, PipelineSpec, "pipeline config")
        ) from None
    return spec.resolve_paths(base or Path.cwd())
