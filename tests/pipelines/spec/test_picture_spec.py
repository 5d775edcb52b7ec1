"""model.inputs.NAME.picture: parsed into the operators' config, its settings checked, and
read from one field only."""

from __future__ import annotations

import pytest

from streaminfer.errors import ConfigError
from streaminfer.operators.pictures import PictureConfig
from streaminfer.pipelines.spec.loader import parse_spec

PIPELINE = """\
name: p
source: {{topics: [events], group_id: g}}
model:
  path: m.onnx
  inputs:
    image: {image}
sink: {{predictions_topic: preds, dead_letter_topic: dlq}}
"""


def test_a_picture_input_becomes_the_operators_config() -> None:
    spec = parse_spec(PIPELINE.format(
        image="{field: photo, picture: {mode: L, layout: NHWC, size: [48, 40], resize: "
              "letterbox, scale: 0.5, mean: [0.1], std: [0.2], max_pixels: 1000}}"))
    assert spec.model is not None
    bindings = spec.model.input_bindings()
    assert bindings is not None
    binding = bindings["image"]
    assert binding.field == "photo"
    assert binding.picture == PictureConfig(mode="L", layout="NHWC", size=(48, 40),
                                            resize="letterbox", scale=0.5, mean=(0.1,),
                                            std=(0.2,), max_pixels=1000)


@pytest.mark.parametrize(("image", "message"), [
    ("{array_field: photo, picture: {}}", "picture"),
    ("{field: photo, cast: true, picture: {}}", "picture"),
    ("{field: photo, default: x, picture: {}}", "picture"),
    ("{field: photo, picture: {std: [0]}}", "std"),
    ("{field: photo, picture: {background: [0, 0, 300]}}", "background"),
    ("{field: photo, picture: {max_pixels: 200000000}}", "max_pixels"),
    ("{field: photo, picture: {formats: [GIF]}}", "formats"),
    ("{field: photo, picture: {layout: CHW}}", "layout"),
    ("{field: photo, picture: {size: [0, 32]}}", "size"),
    ("{field: photo, picture: {size: [32, 20000]}}", "size"),
    ("{field: photo, picture: {colour: red}}", "colour"),
])
def test_settings_that_cannot_work_are_refused(image: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_spec(PIPELINE.format(image=image))
