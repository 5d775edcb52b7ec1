"""Pictures to tensors: decoding and preprocessing equal a reference written in the tests
(tests/fixtures/pictures.py, Pillow and numpy); bad pictures refused with their reasons."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from streaminfer.errors import ModelError
from streaminfer.operators.pictures import (
    PictureConfig,
    decode_picture,
    open_picture,
    picture_size,
    preprocess,
)
from streaminfer.operators.records import RecordError
from tests.fixtures.pictures import b64, encoded, gradient, png_header, reference


def _tensor(data: bytes, config: PictureConfig, dtype: object = np.float32) -> np.ndarray:
    return preprocess(decode_picture(b64(data), config, "image"), config, dtype)


def _refused(value: object, config: PictureConfig | None = None) -> RecordError:
    with pytest.raises(RecordError) as caught:
        decode_picture(value, config or PictureConfig(), "image")
    assert caught.value.field == "image" and caught.value.stage == "validate"
    assert "image" in caught.value.message
    return caught.value


@pytest.mark.parametrize(("fmt", "size", "tolerance"), [
    ("PNG", (40, 64), 0), ("PNG", (24, 24), 0), ("JPEG", (32, 32), 0), ("WEBP", (20, 36), 0),
])
def test_crop_nchw_normalized_equals_the_reference(fmt: str, size: tuple[int, int],
                                                   tolerance: float) -> None:
    picture = gradient(97, 61)
    data = encoded(picture, fmt, **({"quality": 90} if fmt != "PNG" else {}))
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    config = PictureConfig(size=size, scale=1 / 255, mean=mean, std=std)
    got = _tensor(data, config)
    decoded = Image.open(__import__("io").BytesIO(data)).convert("RGB")  # lossy formats
    want = reference(decoded, size=size, scale=1 / 255, mean=mean, std=std)
    assert got.shape == (3, *size) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_letterbox_nhwc_float16_equals_the_reference() -> None:
    picture = gradient(50, 20, seed=3)
    config = PictureConfig(size=(32, 32), resize="letterbox", layout="NHWC", scale=2 / 255,
                           mean=(1.0,), background=(10, 200, 30))
    got = _tensor(encoded(picture), config, np.float16)
    want = reference(picture, size=(32, 32), fit="letterbox", layout="NHWC", scale=2 / 255,
                     mean=1.0, dtype=np.float16, background=(10, 200, 30))
    assert got.shape == (32, 32, 3) and got.dtype == np.float16
    np.testing.assert_allclose(got.astype(np.float32), want.astype(np.float32), atol=1e-3)
    assert got[0, 0].tolist() == pytest.approx([10 * 2 / 255 - 1, 200 * 2 / 255 - 1,
                                                30 * 2 / 255 - 1], abs=1e-3)  # the bars


def test_a_long_thin_picture_is_cropped_from_its_centre() -> None:
    # Resized from the region it shows: never a scaled copy of the whole (1,920,000 x 32).
    picture = gradient(60_000, 2, seed=8)
    config = PictureConfig(size=(32, 32))
    got = _tensor(encoded(picture), config, np.uint8)
    np.testing.assert_array_equal(got, reference(picture, size=(32, 32), dtype=np.uint8))


def test_grey_letterbox_on_the_background_in_grey() -> None:
    picture = gradient(40, 10, seed=4)
    config = PictureConfig(mode="L", size=(20, 20), resize="letterbox", background=(0, 128, 255))
    got = _tensor(encoded(picture), config, np.uint8)
    want = reference(picture.convert("L"), size=(20, 20), mode="L", fit="letterbox",
                     dtype=np.uint8, background=(0, 128, 255))
    np.testing.assert_array_equal(got, want)
    assert got[0, 0, 0] == round(0.587 * 128 + 0.114 * 255)  # the bars: the background, grey


def test_grey_uint8_as_decoded() -> None:
    picture = gradient(30, 45, seed=5)
    config = PictureConfig(mode="L", size=(16, 12))
    got = _tensor(encoded(picture), config, np.uint8)
    want = reference(picture.convert("L"), size=(16, 12), mode="L", dtype=np.uint8)
    assert got.shape == (1, 16, 12) and got.dtype == np.uint8
    np.testing.assert_array_equal(got, want)


def test_exif_orientation_turns_the_picture_upright() -> None:
    picture = gradient(40, 20, seed=7)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: shown turned 90 degrees clockwise
    data = encoded(picture, "PNG", exif=exif)
    config = PictureConfig(size=(40, 20))
    got = _tensor(data, config, np.uint8)
    upright = picture.transpose(Image.Transpose.ROTATE_270)  # 20 wide, 40 high
    np.testing.assert_array_equal(got, reference(upright, size=(40, 20), dtype=np.uint8))
    assert not np.array_equal(got, reference(picture, size=(40, 20), dtype=np.uint8))


def test_cmyk_is_converted_to_rgb() -> None:
    cmyk = gradient(24, 24, seed=2).convert("CMYK")
    config = PictureConfig(size=(24, 24))
    got = _tensor(encoded(cmyk, "JPEG", quality=95), config, np.uint8)
    decoded = Image.open(__import__("io").BytesIO(encoded(cmyk, "JPEG", quality=95)))
    assert decoded.mode == "CMYK"
    np.testing.assert_array_equal(got, reference(decoded.convert("RGB"), size=(24, 24),
                                                 dtype=np.uint8))


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P"])
def test_alpha_is_composited_over_the_background(mode: str) -> None:
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)
    rgba[..., :3] = (200, 40, 40)
    rgba[:, :4, 3] = 255  # left half opaque, right half transparent
    picture = Image.fromarray(rgba, "RGBA")
    if mode == "LA":
        picture = picture.convert("LA")
    options = {}
    if mode == "P":
        indices = np.zeros((8, 8), dtype=np.uint8)
        indices[:, 4:] = 1
        picture = Image.fromarray(indices, "P")
        picture.putpalette([200, 40, 40, 9, 9, 9])
        options["transparency"] = 1  # the right half's colour is see-through
    config = PictureConfig(size=(8, 8), background=(0, 0, 255))
    got = _tensor(encoded(picture, "PNG", **options), config, np.uint8)
    assert got[:, 0, 7].tolist() == [0, 0, 255]  # transparent: the background
    opaque = got[:, 0, 0].tolist()
    assert opaque != [0, 0, 255]
    if mode == "LA":
        grey = round(0.299 * 200 + 0.587 * 40 + 0.114 * 40)
        assert opaque == pytest.approx([grey] * 3, abs=1)


def test_sixteen_bit_grey_is_scaled_to_eight_bits() -> None:
    wide = (np.arange(16 * 16).reshape(16, 16) * 257).astype(np.uint16)
    data = encoded(Image.fromarray(wide))
    assert Image.open(__import__("io").BytesIO(data)).mode.startswith("I")
    config = PictureConfig(mode="L", size=(16, 16))
    got = _tensor(data, config, np.uint8)
    np.testing.assert_array_equal(got[0], np.rint(wide / 257).astype(np.uint8))


def test_a_data_uri_is_read() -> None:
    data = encoded(gradient(10, 10))
    config = PictureConfig(size=(10, 10))
    image = decode_picture("data:image/png;base64," + b64(data), config, "image")
    assert image.size == (10, 10)


def test_a_raw_records_bytes_decode_as_the_same_picture_as_base64() -> None:
    data = encoded(gradient(40, 30), "JPEG", quality=85)
    config = PictureConfig(size=(16, 16), scale=1 / 255)
    from_bytes = preprocess(decode_picture(data, config, "image"), config, np.float32)
    np.testing.assert_array_equal(from_bytes, _tensor(data, config))
    assert _refused(b"raw bytes, no picture").error_type == "not_a_picture"
    assert _refused(data[: len(data) // 2]).error_type == "truncated_picture"
    assert _refused(png_header(6000, 5000), PictureConfig(max_pixels=1000)).error_type == \
        "picture_too_large"


def test_bad_pictures_are_refused_with_their_reasons() -> None:
    whole = encoded(gradient(64, 64), "JPEG", quality=90)
    png = encoded(gradient(64, 64), "PNG")
    assert _refused(123).error_type == "wrong_input_type"
    assert _refused("not base64 at all!").error_type == "invalid_base64"
    assert _refused(b64(b"just some bytes, no picture")).error_type == "not_a_picture"
    assert _refused(b64(whole[: len(whole) // 2])).error_type == "truncated_picture"
    assert _refused(b64(png[: len(png) // 2])).error_type == "truncated_picture"
    webp = encoded(gradient(64, 64), "WEBP")
    assert _refused(b64(webp[: len(webp) // 2])).error_type == "truncated_picture"
    assert _refused(b64(webp[:12])).error_type == "truncated_picture"
    assert _refused(b64(whole[:40])).error_type == "truncated_picture"  # within the header
    unknown = _refused(b64(png[:12]))  # a PNG signature, then nothing to identify
    assert unknown.error_type == "not_a_picture" and "0x" not in unknown.message
    gif = encoded(gradient(8, 8), "GIF")
    assert _refused(b64(gif)).error_type == "not_a_picture"  # not an accepted format
    only_png = PictureConfig(formats=("PNG",))
    assert _refused(b64(whole), only_png).error_type == "not_a_picture"


def test_a_decompression_bomb_is_refused_before_decoding() -> None:
    # A header claiming 3000x3000 with no pixels behind it: refused from the header alone
    # (were it decoded, it would be a truncated picture).
    bomb = _refused(b64(png_header(3000, 3000)), PictureConfig(max_pixels=1_000_000))
    assert bomb.error_type == "picture_too_large" and "max_pixels" in bomb.message
    assert _refused(b64(png_header(3000, 3000))).error_type == "truncated_picture"
    # Beyond twice Pillow's own limit Pillow refuses it at open: the same reason.
    assert _refused(b64(png_header(20_000, 20_000))).error_type == "picture_too_large"
    real = encoded(Image.new("L", (2000, 1000)), "PNG")
    with pytest.raises(RecordError, match="2000x1000"):
        open_picture(real, PictureConfig(max_pixels=1_999_999), "image")
    assert open_picture(real, PictureConfig(mode="L", max_pixels=2_000_000), "image").size \
        == (2000, 1000)


@pytest.mark.parametrize(("config", "element", "shape", "message"), [
    (PictureConfig(), "float", (None, 3, 32), "shape"),
    (PictureConfig(), "int64", (None, 3, 8, 8), "float, float16, double or uint8"),
    (PictureConfig(scale=1 / 255), "uint8", (None, 3, 8, 8), "remove scale"),
    (PictureConfig(mode="L"), "float", (None, 3, 8, 8), "3 channels"),
    (PictureConfig(layout="NHWC"), "float", (None, 3, 8, 8), "8 channels"),
    (PictureConfig(), "float", (None, 3, None, None), "picture.size"),
    (PictureConfig(size=(16, 16)), "float", (None, 3, 8, 8), "8x8"),
    (PictureConfig(mean=(0.1, 0.2)), "float", (None, 3, 8, 8), "mean has 2 values"),
    (PictureConfig(std=(0.001,)), "float16", (None, 3, 8, 8), "beyond float16"),
])
def test_inputs_that_do_not_fit_are_refused_at_load(config: PictureConfig, element: str,
                                                    shape: tuple[object, ...],
                                                    message: str) -> None:
    with pytest.raises(ModelError, match=message):
        picture_size(config, element, shape, "image", "m")


def test_sizes_from_the_model_or_the_config() -> None:
    assert picture_size(PictureConfig(), "float", (None, 3, 8, 12), "x", "m") == (8, 12)
    assert picture_size(PictureConfig(layout="NHWC"), "uint8", (None, 8, 12, 3), "x",
                        "m") == (8, 12)
    assert picture_size(PictureConfig(size=(5, 6)), "float16", (None, 3, None, None), "x",
                        "m") == (5, 6)
