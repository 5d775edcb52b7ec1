"""source.codec raw: the record's value is one field's bytes, the id from the key (under
id_field, 'id' by default) or raw.id_header; features cannot be read from it."""

from __future__ import annotations

import pytest

from streaminfer.errors import ConfigError
from streaminfer.pipelines.spec.loader import parse_spec

PIPELINE = """\
name: p
source: {{topics: [pictures], group_id: g, {source}}}
model:
  path: m.onnx
  inputs:
    image: {{field: image, picture: {{}}}}
sink: {{predictions_topic: preds, dead_letter_topic: dlq}}
"""


def test_a_raw_source_names_its_field_and_takes_the_id_from_the_key_by_default() -> None:
    spec = parse_spec(PIPELINE.format(source="codec: raw, raw: {field: image}"))
    assert (spec.source.codec, spec.source.raw.field, spec.source.id_field,
            spec.source.raw.id_header) == ("raw", "image", "id", None)
    named = parse_spec(PIPELINE.format(
        source="codec: raw, id_field: picture_id, raw: {field: image, id_header: pid}"))
    assert (named.source.id_field, named.source.raw.id_header) == ("picture_id", "pid")
    assert parse_spec(PIPELINE.format(source="codec: json")).source.id_field is None


@pytest.mark.parametrize("source", [
    "codec: raw, raw: {field: image}, features: [a, b]",
    "codec: raw, raw: {field: image}, features_field: x",
    "codec: raw, raw: {field: id}",
])
def test_a_raw_source_refuses_features_and_an_id_field_on_the_value(source: str) -> None:
    with pytest.raises(ConfigError, match=r"codec raw .*raw\.field"):
        parse_spec(PIPELINE.format(source=source))
