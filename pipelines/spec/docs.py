"""The configuration reference in Markdown, generated from the spec's JSON Schema.

``docs/configuration.md`` holds its output; a test keeps the two equal, so the reference
never drifts from the schema. Regenerate with ``streaminfer schema --markdown``.
"""

from __future__ import annotations

import json
from typing import Any

from streaminfer.operators.metric_table import METRICS
from streaminfer.pipelines.spec.schema import PipelineSpec


def _kind(prop: dict[str, Any] | bool, defs: dict[str, Any]) -> str:
    if not isinstance(prop, dict):  # JSON Schema's `true`: anything (e.g. dict[str, Any])
        return "any"
    if "$ref" in prop:
        return "section"
    if prop.get("type") == "array" and "$ref" in prop.get("items", {}):
        return "list of sections, each as `model`"
    if "enum" in prop:
        return "one of " + ", ".join(f"`{v}`" for v in prop["enum"])
    if "const" in prop:
        return f"`{prop['const']}`"
    if "anyOf" in prop:
        kinds = [_kind(p, defs) for p in prop["anyOf"] if p.get("type") != "null"]
        optional = any(p.get("type") == "null" for p in prop["anyOf"])
        return " or ".join(kinds) + (" (optional)" if optional else "")
    kind = str(prop.get("type", "any"))
    if kind == "array":
        return f"list of {_kind(prop.get('items', {}), defs)}"
    if kind == "object":
        return f"map of string to {_kind(prop.get('additionalProperties', {}), defs)}"
    return {"integer": "int", "number": "number", "boolean": "bool", "string": "string"}.get(
        kind, kind)


def _default(prop: dict[str, Any], required: bool) -> str:
    if required:
        return "**required**"
    if "default" not in prop or "$ref" in prop:
        return ""
    return f"`{json.dumps(prop['default'])}`"


def _section_ref(prop: dict[str, Any]) -> str | None:
    """The definition a property's section uses (directly, optional, or as list items)."""
    for candidate in [prop, *prop.get("anyOf", [])]:
        if "$ref" in candidate:
            return str(candidate["$ref"]).rsplit("/", 1)[-1]
    return None


def _rows(
    schema: dict[str, Any], defs: dict[str, Any], prefix: str, seen: frozenset[str] = frozenset()
) -> list[str]:
    rows = []
    required = set(schema.get("required", []))
    for name, prop in schema.get("properties", {}).items():
        path = f"{prefix}{name}"
        description = prop.get("description", "").replace("|", "\\|")
        rows.append(f"| `{path}` | {_kind(prop, defs)} | {_default(prop, name in required)} "
                    f"| {description} |")
        ref = _section_ref(prop)
        if ref is not None and ref not in seen:
            rows += _rows(defs[ref], defs, f"{path}.", seen | {ref})
        ref = _map_section_ref(prop)  # a map of sections: one row per key of the section
        if ref is not None and ref not in seen:
            rows += _rows(defs[ref], defs, f"{path}.<name>.", seen | {ref})
    return rows


def _map_section_ref(prop: dict[str, Any]) -> str | None:
    """The definition each value of a map of sections uses (``model.inputs``)."""
    for candidate in [prop, *prop.get("anyOf", [])]:
        values = candidate.get("additionalProperties")
        if isinstance(values, dict) and "$ref" in values:
            return str(values["$ref"]).rsplit("/", 1)[-1]
    return None


def markdown_reference() -> str:
    """The whole reference page."""
    schema = PipelineSpec.model_json_schema()
    lines = [
        "# Pipeline YAML reference",
        "",
        "Generated from the schema by `streaminfer schema --markdown`; do not edit by hand.",
        "Unknown keys are errors. Relative paths are relative to the YAML file's folder.",
        "`streaminfer validate-config FILE` checks a file (and loads its model);",
        "`streaminfer schema` prints the JSON Schema. Examples: [configs/](../configs).",
        "",
        "| key | type | default | meaning |",
        "| --- | --- | --- | --- |",
        *_rows(schema, schema.get("$defs", {}), ""),
        "",
        *metric_table(),
    ]
    return "\n".join(lines)


def metric_table() -> list[str]:
    """The metric table (``operators/metric_table.py``) as a Markdown section: every field
    that names a metric takes one of these."""
    return [
        "## Metrics",
        "",
        "Every field that names a metric (`rollout.rollback.metric`, `rollout.promote.metric`,",
        "`retrain.gate[].metric`, `retrain.when.metric_floor.metric`) takes one of these; the",
        "rules compare in each metric's direction, and `optimize` and `validate` judge a model by",
        "its task's primary metric. The metrics that judge one model must be of its task.",
        "",
        "| metric | task | better | primary | meaning |",
        "| --- | --- | --- | --- | --- |",
        *[f"| `{m.name}` | {m.task} | {m.better} | {'yes' if m.primary else ''} "
          f"| {m.description} |" for m in METRICS.values()],
        "",
    ]
