"""Reading YAML config files and explaining validation errors, for every config model.

Used by the pipeline spec loader and the cluster description loader, so both speak the same
way: ``file: field.path: what is wrong (did you mean ...?). Allowed here: ...``.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from streaminfer.errors import ConfigError


def read_text(path: str | Path) -> str:
    """A config file's text, or one clear :class:`ConfigError`."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


def parse_yaml(text: str, source: str) -> Any:
    """``yaml.safe_load`` with the line and column of a syntax error in the message."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{source}:{where}: not valid YAML: {problem}") from None


def deep_merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides`` laid over it, nested mappings merged key by key."""
    out = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def format_validation_error(
    exc: ValidationError, source: str, root: type[BaseModel], what: str
) -> str:
    """One line per problem: ``field.path: what is wrong; what is allowed``."""
    lines = [f"{source}: {exc.error_count()} problem(s) in the {what}"]
    for err in exc.errors():
        # Drop the union-branch tags pydantic puts in locations ("literal['auto']", ...).
        loc = [str(part) for part in err["loc"]
               if isinstance(part, int) or str(part).isidentifier()]
        field = ".".join(loc) or "(top level)"
        lines.append(f"  {field}: {_explain(err, loc, root)}")
    return "\n".join(lines)


def _explain(err: Any, loc: list[str], root: type[BaseModel]) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        model = _model_at(root, loc[:-1])
        allowed = sorted(model.model_fields) if model else []
        return f"unknown key{did_you_mean(loc[-1], allowed)}. Allowed here: {', '.join(allowed)}"
    if kind == "missing":
        description = _field_description(root, loc)
        return "required but missing" + (f" ({description})" if description else "")
    if kind == "string_pattern_mismatch":
        description = _field_description(root, loc)
        if description:
            return f"{description} (got {err['input']!r})"
    message = str(err["msg"]).removeprefix("Value error, ")
    if "input" in err and not isinstance(err["input"], (dict, list)):
        message += f" (got {err['input']!r})"
    return message


def did_you_mean(word: str, allowed: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` with the closest allowed word, or nothing when none is close.

    >>> did_you_mean("max_sise", ["max_size", "max_wait_ms"]), did_you_mean("zzz", ["a"])
    (" (did you mean 'max_size'?)", '')
    """
    hint = difflib.get_close_matches(word, list(allowed), n=1)
    return f" (did you mean '{hint[0]}'?)" if hint else ""


def _model_at(root: type[BaseModel], loc: list[str]) -> type[BaseModel] | None:
    """The config model at a location (``model``, ``models.1``, ``kafka.security``...)."""
    model = root
    for part in loc:
        if part.isdigit():  # an item of a list of sections: already stepped into
            continue
        field = model.model_fields.get(part)
        found = _section(getattr(field, "annotation", None))
        if found is None:
            return None
        model = found
    return model


def _section(annotation: Any) -> type[BaseModel] | None:
    """The section model in ``Section``, ``Section | None`` or ``tuple[Section, ...]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _section(arg)
        if found is not None:
            return found
    return None


def _field_description(root: type[BaseModel], loc: list[str]) -> str | None:
    if not loc:
        return None
    model = _model_at(root, loc[:-1])
    field = model.model_fields.get(loc[-1]) if model else None
    return field.description if field else None
