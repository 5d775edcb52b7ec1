"""A picture input in a FeedBuilder: each event's picture decoded into its row, a batch
stacked into the input's tensor, a bad picture refused for its event alone."""

from __future__ import annotations

import numpy as np
import pytest

from streaminfer.errors import ModelError
from streaminfer.operators.inputs import FeedBuilder, InputBinding, InputSignature
from streaminfer.operators.pictures import PictureConfig
from streaminfer.operators.records import RecordError
from tests.fixtures.pictures import b64, encoded, gradient, reference

SIGNATURE = (InputSignature("image", "float", (None, 3, 12, 16)),
             InputSignature("hour", "int64", (None, 1)))
CONFIG = PictureConfig(scale=1 / 255, mean=(0.5,), std=(0.25,))


def _builder() -> FeedBuilder:
    return FeedBuilder(SIGNATURE, {"image": InputBinding(field="photo", picture=CONFIG),
                                   "hour": InputBinding(field="hour")})


def test_pictures_and_another_input_make_one_feed() -> None:
    builder = _builder()
    pictures = [gradient(30 + 7 * i, 20 + 3 * i, seed=i) for i in range(3)]
    rows = [builder.values({"photo": b64(encoded(p)), "hour": i})
            for i, p in enumerate(pictures)]
    feed, refused = builder.matrix(rows)
    assert refused == {}
    assert feed["image"].shape == (3, 3, 12, 16) and feed["image"].dtype == np.float32
    for i, picture in enumerate(pictures):
        want = reference(picture, size=(12, 16), scale=1 / 255, mean=0.5, std=0.25)
        np.testing.assert_allclose(feed["image"][i], want, atol=1e-5)
    assert feed["hour"].tolist() == [[0], [1], [2]]
    empty, _ = builder.matrix([])
    assert empty["image"].shape == (0, 3, 12, 16)


def test_a_raw_records_picture_is_carried_in_labelled_examples_as_base64() -> None:
    data = encoded(gradient(16, 12))
    builder = _builder()
    row = builder.values({"photo": data, "hour": 2})  # bytes: a raw record's value
    np.testing.assert_array_equal(row[0], builder.values({"photo": b64(data), "hour": 2})[0])
    assert builder.feature_row({"photo": data, "hour": 2}) == {"photo": b64(data), "hour": 2}


@pytest.mark.parametrize(("event", "reason"), [
    ({"hour": 1}, "missing_feature"),
    ({"photo": None, "hour": 1}, "missing_feature"),
    ({"photo": 5, "hour": 1}, "wrong_input_type"),
    ({"photo": "%%%", "hour": 1}, "invalid_base64"),
    ({"photo": b64(b"GIF89a nothing"), "hour": 1}, "not_a_picture"),
])
def test_a_bad_picture_refuses_its_event(event: dict[str, object], reason: str) -> None:
    with pytest.raises(RecordError) as caught:
        _builder().values(event)
    assert (caught.value.error_type, caught.value.field) == (reason, "photo")
    assert "input 'image'" in caught.value.message


def test_a_picture_binding_that_does_not_fit_the_model_is_refused() -> None:
    with pytest.raises(ModelError, match="mode L gives 1"):
        FeedBuilder(SIGNATURE, {
            "image": InputBinding(field="photo", picture=PictureConfig(mode="L")),
            "hour": InputBinding(field="hour")}, "m")
