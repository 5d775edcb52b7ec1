"""Read a cluster description YAML into a :class:`ClusterSpec`, with errors a user can act on."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from streaminfer.cluster.spec import ClusterSpec
from streaminfer.errors import ConfigError


def load_cluster_spec(
    path: str | Path | None = None, *, overrides: dict[str, Any] | None = None
) -> ClusterSpec:
    """Parse ``path`` (no path: every default); ``overrides`` (nested keys) win over the file."""
    data: dict[str, Any] = {}
    source = "<defaults>"
    if path is not None:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such file") from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
        data = _mapping(text, source)
    return parse_cluster_spec(_merge(data, overrides or {}), source=source)


def parse_cluster_spec(data: dict[str, Any], *, source: str = "<cluster>") -> ClusterSpec:
    """Validate an already parsed mapping; ``source`` names it in errors."""
    try:
        return ClusterSpec.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, source, ClusterSpec)) from None


def _mapping(text: str, source: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{source}:{where}: not valid YAML: {problem}") from None
    if data is None:  # an empty file: every default
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: a cluster description is a YAML mapping (found {type(data).__name__})"
        )
    return data


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def format_errors(exc: ValidationError, source: str, root: type[BaseModel]) -> str:
    """One line per problem: ``field.path: what is wrong; what is allowed``."""
    lines = [f"{source}: {exc.error_count()} problem(s) in the cluster description"]
    for err in exc.errors():
        loc = [str(part) for part in err["loc"]
               if isinstance(part, int) or str(part).isidentifier()]
        field = ".".join(loc) or "(top level)"
        lines.append(f"  {field}: {_explain(err, loc, root)}")
    return "\n".join(lines)


def _explain(err: Any, loc: list[str], root: type[BaseModel]) -> str:
    if err["type"] == "extra_forbidden":
        model = _model_at(root, loc[:-1])
        allowed = sorted(model.model_fields) if model else []
        hint = difflib.get_close_matches(loc[-1], allowed, n=1)
        guess = f"; did you mean '{hint[0]}'?" if hint else ""
        return f"unknown key{guess} Allowed here: {', '.join(allowed)}"
    message = str(err["msg"]).removeprefix("Value error, ")
    if "input" in err and err["type"] not in ("model_type", "dict_type", "missing"):
        message += f" (got {err['input']!r})"
    return message


def _model_at(root: type[BaseModel], loc: list[str]) -> type[BaseModel] | None:
    model = root
    for part in loc:
        field = model.model_fields.get(part)
        annotation = getattr(field, "annotation", None)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        else:
            return None
    return model
