"""Read a cluster description YAML into a :class:`ClusterSpec`, with errors a user can act on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from streaminfer.cluster.spec import ClusterSpec
from streaminfer.errors import ConfigError
from streaminfer.pipelines.spec.config_io import (
    deep_merge,
    format_validation_error,
    parse_yaml,
    read_text,
)


def load_cluster_spec(
    path: str | Path | None = None, *, overrides: dict[str, Any] | None = None
) -> ClusterSpec:
    """Parse ``path`` (no path: every default); ``overrides`` (nested keys) win over the file."""
    data: dict[str, Any] = {}
    source = "<defaults>"
    if path is not None:
        source = str(path)
        data = _mapping(read_text(path), source)
    return parse_cluster_spec(deep_merge(data, overrides or {}), source=source)


def parse_cluster_spec(data: dict[str, Any], *, source: str = "<cluster>") -> ClusterSpec:
    """Validate an already parsed mapping; ``source`` names it in errors."""
    try:
        return ClusterSpec.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            format_validation_error(exc, source, ClusterSpec, "cluster description")
        ) from None


def _mapping(text: str, source: str) -> dict[str, Any]:
    data = parse_yaml(text, source)
    if data is None:  # an empty file: every default
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: a cluster description is a YAML mapping (found {type(data).__name__})"
        )
    return data
