"""docs/configuration.md is generated from the schema and must stay equal to it."""

from __future__ import annotations

from pathlib import Path

from streaminfer.pipelines.spec.docs import markdown_reference
from streaminfer.pipelines.spec.schema import PipelineSpec

DOC = Path(__file__).resolve().parents[3] / "docs" / "configuration.md"


def test_the_reference_in_docs_is_current() -> None:
    assert DOC.read_text() == markdown_reference(), (
        "docs/configuration.md is stale: run `streaminfer schema --markdown > "
        "docs/configuration.md`"
    )


def test_the_reference_lists_every_field_with_its_description() -> None:
    text = markdown_reference()

    def walk(model: type, prefix: str) -> None:
        for name, field in model.model_fields.items():  # type: ignore[attr-defined]
            assert field.description, f"{prefix}{name} has no description"
            assert f"| `{prefix}{name}` |" in text
            assert field.description.replace("|", "\\|") in text
            annotation = field.annotation
            if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
                walk(annotation, f"{prefix}{name}.")

    walk(PipelineSpec, "")
