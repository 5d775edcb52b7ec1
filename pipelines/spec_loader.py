"""Read a pipeline YAML into a :class:`PipelineSpec`, with errors a user can act on."""

from __future__ import annotations

import difflib
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from streaminfer.errors import ConfigError
from streaminfer.pipelines.spec import PipelineSpec


def load_spec(path: str | Path) -> PipelineSpec:
    """Parse and validate ``path``; relative paths inside it resolve against its folder."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_spec(text, source=str(path), base=path.resolve().parent)


def parse_spec(text: str, *, source: str = "<string>", base: Path | None = None) -> PipelineSpec:
    """Validate YAML text; ``source`` names it in errors, ``base`` anchors relative paths."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{source}:{where}: not valid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: the file must be a YAML mapping with keys name, source, model, sink "
            f"(found {type(data).__name__})"
        )
    try:
        spec = PipelineSpec.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None
    return spec.resolve_paths(base or Path.cwd())


def format_validation_error(exc: ValidationError, source: str) -> str:
    """One line per problem: ``file: field.path: what is wrong; what is allowed``."""
    lines = [f"{source}: {exc.error_count()} problem(s) in the pipeline config"]
    for err in exc.errors():
        # Drop the union-branch tags pydantic puts in locations ("literal['auto']", ...).
        loc = [str(part) for part in err["loc"]
               if isinstance(part, int) or str(part).isidentifier()]
        field = ".".join(loc) or "(top level)"
        lines.append(f"  {field}: {_explain(err, loc)}")
    return "\n".join(lines)


def _explain(err: Any, loc: list[str]) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        hint = difflib.get_close_matches(loc[-1], allowed, n=1)
        guess = f" (did you mean '{hint[0]}'?)" if hint else ""
        return f"unknown key{guess}. Allowed here: {', '.join(allowed)}"
    if kind == "missing":
        description = _field_description(loc)
        return "required but missing" + (f" ({description})" if description else "")
    if kind == "string_pattern_mismatch":
        description = _field_description(loc)
        if description:
            return f"{description} (got {err['input']!r})"
    message = str(err["msg"])
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if "input" in err and not isinstance(err["input"], (dict, list)):
        message += f" (got {err['input']!r})"
    return message


def _model_at(loc: list[str]) -> type[BaseModel] | None:
    """The config model at a location (``model``, ``models.1``, ``kafka.security``...)."""
    model: type[BaseModel] = PipelineSpec
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


def _allowed_keys(loc: list[str]) -> list[str]:
    model = _model_at(loc)
    return sorted(model.model_fields) if model else []


def _field_description(loc: list[str]) -> str | None:
    model = _model_at(loc[:-1])
    field = model.model_fields.get(loc[-1]) if model else None
    return field.description if field else None
