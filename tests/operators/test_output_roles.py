"""The field each output role is published under, by ``model.outputs``."""

from __future__ import annotations

from streaminfer.operators.output_roles import output_field, published_field


def test_roles_follow_the_rename() -> None:
    renamed = {"label": "digit", "probabilities": "scores"}
    assert output_field("label", renamed) == "digit"
    assert output_field("probabilities", renamed) == "scores"
    assert output_field("value", renamed) is None
    assert output_field("value", {"variable": "progression"}) == "progression"


def test_without_a_mapping_each_output_keeps_its_name() -> None:
    assert [output_field(r, None) for r in ("label", "probabilities", "value")] == [
        "label", "probabilities", "variable"]
    assert published_field("logits", None) == "logits"
    assert published_field("logits", {"label": "digit"}) is None
