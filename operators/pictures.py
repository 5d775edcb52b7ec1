"""Pictures to tensors for models that take them (``model.inputs.NAME.picture``), with Pillow.

An event field holds a picture (JPEG, PNG or WebP) as base64 text (or a ``data:`` URI), or,
from a record whose value is the file itself (``source.codec: raw``), as bytes.
:func:`decode_picture` decodes it: the size read from the header is checked against
``max_pixels`` before any pixel is decoded (a decompression bomb costs nothing), EXIF
orientation is applied, and the mode is converted to RGB or L. :func:`preprocess` resizes
it to the model's size (shorter side then centre crop, or letterbox onto a background) and
gives the tensor of one row: ``HWC`` or ``CHW``, uint8 as decoded for a uint8 input, else
``pixel * scale``, then ``(x - mean) / std`` per channel, in the input's float type.

What is refused, each a :class:`RecordError` naming the field: a value that is not a string
(``wrong_input_type``), text that is not base64 (``invalid_base64``), bytes that are no
picture of the allowed formats (``not_a_picture``), a file cut short (``truncated_picture``),
a picture of more than ``max_pixels`` pixels (``picture_too_large``) and one whose mode has
no 8-bit meaning here (``unsupported_picture``: 32-bit integer or float pixels). Converted:
CMYK to RGB; alpha (RGBA, LA, a palette with transparency) composited over ``background``;
16-bit grey to 8-bit (``value / 257``, rounded).

>>> import base64, io
>>> from PIL import Image
>>> raw = io.BytesIO(); Image.new("RGB", (8, 4), (255, 0, 0)).save(raw, "PNG")
>>> config = PictureConfig(size=(2, 2), scale=1 / 255)
>>> tensor = preprocess(decode_picture(base64.b64encode(raw.getvalue()).decode(), config,
...                                    "image"), config, np.float32)
>>> tensor.shape, tensor[:, 0, 0].tolist()
((3, 2, 2), [1.0, 0.0, 0.0])
"""

from __future__ import annotations

import base64
import binascii
import io
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from streaminfer.errors import ModelError
from streaminfer.operators.records import RecordError

Mode = Literal["RGB", "L"]
Layout = Literal["NCHW", "NHWC"]
Resize = Literal["crop", "letterbox"]
Resample = Literal["nearest", "bilinear", "bicubic", "lanczos"]
PictureFormat = Literal["JPEG", "PNG", "WEBP"]

_RESAMPLE = {"nearest": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR,
             "bicubic": Image.Resampling.BICUBIC, "lanczos": Image.Resampling.LANCZOS}
_CHANNELS = {"RGB": 3, "L": 1}
_FLOAT_TYPES: dict[str, type[np.floating[Any]]] = {"float": np.float32, "float16": np.float16,
                                                "double": np.float64}
_ELEMENTS = frozenset({*_FLOAT_TYPES, "uint8"})
_SIXTEEN = frozenset({"I;16", "I;16B", "I;16L", "I;16N"})
_ALPHA = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})


@dataclass(frozen=True)
class PictureConfig:
    """How one input's pictures become its tensor (``model.inputs.NAME.picture``)."""

    mode: Mode = "RGB"
    layout: Layout = "NCHW"
    size: tuple[int, int] | None = None  # (height, width); default: the model's
    resize: Resize = "crop"
    resample: Resample = "bilinear"
    scale: float = 1.0
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    background: tuple[int, int, int] = (255, 255, 255)
    max_pixels: int = 40_000_000
    formats: tuple[PictureFormat, ...] = ("JPEG", "PNG", "WEBP")

    @property
    def channels(self) -> int:
        return _CHANNELS[self.mode]

    def normalizes(self) -> bool:
        """Whether pixels are scaled or shifted (a uint8 input takes them as decoded)."""
        return (self.scale != 1.0 or any(m != 0 for m in self.mean)
                or any(s != 1 for s in self.std))


def picture_size(config: PictureConfig, element_type: str, shape: tuple[Any, ...],
                 name: str, model: str) -> tuple[int, int]:
    """The (height, width) the input takes; ``ModelError`` if its shape, element type or
    channels do not fit the config."""
    where = f"model {model}: input {name} has shape {list(shape)}"
    if len(shape) != 4:
        raise ModelError(f"{where}; a picture feeds an input of shape [batch, channels, "
                         "height, width] (layout NCHW) or [batch, height, width, channels] "
                         "(NHWC)")
    if element_type not in _ELEMENTS:
        raise ModelError(f"model {model}: input {name} is {element_type}; a picture feeds "
                         "a float, float16, double or uint8 input")
    if element_type == "uint8" and config.normalizes():
        raise ModelError(f"model {model}: input {name} is uint8 and takes pixels as they "
                         f"are; remove scale, mean and std from model.inputs.{name}.picture")
    channels, height, width = (shape[1], shape[2], shape[3]) if config.layout == "NCHW" \
        else (shape[3], shape[1], shape[2])
    if isinstance(channels, int) and channels != config.channels:
        raise ModelError(f"{where} ({config.layout}): {channels} channels, but mode "
                         f"{config.mode} gives {config.channels}; set "
                         f"model.inputs.{name}.picture.mode or layout")
    for setting, values in (("mean", config.mean), ("std", config.std)):
        if len(values) not in (1, config.channels):
            raise ModelError(f"model.inputs.{name}.picture.{setting} has {len(values)} "
                             f"values; give 1 or {config.channels} (mode {config.mode})")
    if element_type != "uint8":
        largest = max(max(abs(255 * config.scale - m), abs(m)) for m in config.mean) \
            / min(config.std)
        limit = float(np.finfo(_FLOAT_TYPES[element_type]).max)
        if not largest < limit:
            raise ModelError(f"model.inputs.{name}.picture: scale, mean and std give values "
                             f"up to {largest:g}, beyond {element_type} (at most {limit:g})")
    fixed = (height, width) if isinstance(height, int) and isinstance(width, int) else None
    if config.size is not None and fixed is not None and config.size != fixed:
        raise ModelError(f"{where}: it takes {fixed[0]}x{fixed[1]} pictures, not the "
                         f"{config.size[0]}x{config.size[1]} of model.inputs.{name}."
                         "picture.size; remove size or make it agree")
    size = config.size or fixed
    if size is None:
        raise ModelError(f"{where}: its height and width are dynamic; set "
                         f"model.inputs.{name}.picture.size: [height, width]")
    return size


def picture_value(event: dict[str, Any], name: str, config: PictureConfig, input_name: str,
                  dtype: Any, size: tuple[int, int]) -> np.ndarray:
    """The picture in field ``name`` of an event, decoded and preprocessed for its input;
    :class:`RecordError` when it is missing or unusable."""
    value = event.get(name)
    what = f" (input '{input_name}')"
    if value is None:
        raise RecordError("missing_feature", f"field '{name}'{what} is "
                          f"{'null' if name in event else 'missing'}; send the picture "
                          "as base64", "validate", name)
    return preprocess(decode_picture(value, config, name, what), config, dtype, size)


def decode_picture(value: Any, config: PictureConfig, field: str,
                   what: str = "") -> Image.Image:
    """One event's picture, decoded, upright, in the config's mode: base64 text (from a
    JSON event) or the file's bytes (a record's raw value, ``source.codec: raw``); raises
    :class:`RecordError` if it is not a picture streaminfer can use."""
    if isinstance(value, bytes):
        return open_picture(value, config, field, what)
    if not isinstance(value, str):
        kind = "null" if value is None else type(value).__name__
        raise RecordError("wrong_input_type", f"field '{field}'{what} is {kind}, not a "
                          "string (a picture as base64)", "validate", field)
    if value.startswith("data:") and ";base64," in value[:100]:
        value = value.split(",", 1)[1]  # a data URI: data:image/png;base64,...
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise RecordError("invalid_base64", f"field '{field}'{what} is not base64 text "
                          f"({exc}); send the picture's bytes base64-encoded", "validate",
                          field) from None
    return open_picture(data, config, field, what)


def open_picture(data: bytes, config: PictureConfig, field: str,
                 what: str = "") -> Image.Image:
    """A picture's bytes decoded (see :func:`decode_picture`)."""
    allowed = ", ".join(config.formats)
    try:
        image = Image.open(io.BytesIO(data), formats=list(config.formats))
    except Image.DecompressionBombError as exc:
        raise _too_large(field, what, str(exc), config) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        detail = "no format Pillow knows" if isinstance(exc, UnidentifiedImageError) \
            else str(exc)
        if "truncated" in detail.lower() or _short_webp(data):
            raise RecordError("truncated_picture", f"field '{field}'{what}: the picture is "
                              f"cut short ({detail}); send the whole file", "validate",
                              field) from None
        raise RecordError("not_a_picture", f"field '{field}'{what} holds {len(data)} bytes "
                          f"that are no picture of {allowed} ({detail})", "validate",
                          field) from None
    width, height = image.size
    if width * height > config.max_pixels:
        raise _too_large(field, what, f"{width}x{height} pixels", config)
    try:
        image.load()
    except OSError as exc:
        reason = "truncated_picture" if "truncated" in str(exc) or "broken" in str(exc) \
            else "not_a_picture"
        raise RecordError(reason, f"field '{field}'{what}: the {image.format} picture "
                          f"cannot be decoded ({exc}); send the whole file", "validate",
                          field) from None
    except Exception as exc:  # Pillow's decoders raise several types on bad data
        raise RecordError("not_a_picture", f"field '{field}'{what}: the {image.format} "
                          f"picture cannot be decoded ({type(exc).__name__}: {exc})",
                          "validate", field) from None
    try:
        upright = ImageOps.exif_transpose(image)
    except Exception as exc:  # a malformed EXIF block: Pillow raises several types
        raise RecordError("not_a_picture", f"field '{field}'{what}: the {image.format} "
                          f"picture's EXIF cannot be read ({type(exc).__name__}: {exc})",
                          "validate", field) from None
    return _converted(upright if upright is not None else image, config, field, what)


def _short_webp(data: bytes) -> bool:
    """Whether the bytes begin a WebP file that its RIFF header says is longer (libwebp
    refuses such a file at open, without saying why)."""
    return (data[:4] == b"RIFF" and data[8:12] == b"WEBP"
            and int.from_bytes(data[4:8], "little") + 8 > len(data))


def _too_large(field: str, what: str, detail: str, config: PictureConfig) -> RecordError:
    return RecordError("picture_too_large", f"field '{field}'{what}: the picture has more "
                       f"than max_pixels ({config.max_pixels}) pixels ({detail}); send a "
                       "smaller one, or raise model.inputs.NAME.picture.max_pixels",
                       "validate", field)


def _converted(image: Image.Image, config: PictureConfig, field: str,
               what: str) -> Image.Image:
    """The picture in the config's mode: alpha composited over the background, CMYK and
    palettes converted, 16-bit grey scaled to 8 bits."""
    mode = image.mode
    if mode in _SIXTEEN:
        wide = np.asarray(image, dtype=np.uint16)
        image = Image.fromarray(np.rint(wide / 257.0).astype(np.uint8), "L")
    elif mode in ("I", "F"):
        raise RecordError("unsupported_picture", f"field '{field}'{what}: a picture of "
                          f"{'32-bit integer' if mode == 'I' else 'float'} pixels (mode "
                          f"{mode}); send 8-bit or 16-bit pictures", "validate", field)
    elif mode in ("PA", "RGBa", "La") or (mode in ("P", "L", "RGB")
                                          and "transparency" in image.info):
        image = image.convert("RGBA")
    elif mode == "1":
        image = image.convert("L")
    if image.mode in _ALPHA:
        rgba = image.convert("RGBA")
        ground = Image.new("RGBA", rgba.size, (*config.background, 255))
        image = Image.alpha_composite(ground, rgba)
    return image if image.mode == config.mode else image.convert(config.mode)


def preprocess(image: Image.Image, config: PictureConfig, dtype: Any,
               size: tuple[int, int] | None = None) -> np.ndarray:
    """One picture as its row of the input: resized to ``size`` (height, width; default
    ``config.size``), laid out, scaled and normalized (see the module's doc)."""
    height, width = size or config.size or image.size[::-1]
    resample = _RESAMPLE[config.resample]
    w, h = image.size
    if config.resize == "crop":
        # The largest centred box of the target's shape, resized to the target: no scaled
        # copy of the whole picture (of a 40,000,000 x 1 picture, one of 1.28e9 x 32).
        aspect = width / height
        bw, bh = (h * aspect, float(h)) if w / h > aspect else (float(w), w / aspect)
        left, top = (w - bw) / 2, (h - bh) / 2
        fitted = image.resize((width, height), resample, box=(left, top, left + bw, top + bh))
    else:
        ratio = min(width / w, height / h)
        sw, sh = max(1, round(w * ratio)), max(1, round(h * ratio))
        ground = Image.new("RGB", (width, height), config.background)
        fitted = ground if config.mode == "RGB" else ground.convert(config.mode)
        fitted.paste(image.resize((sw, sh), resample), ((width - sw) // 2, (height - sh) // 2))
    pixels = np.asarray(fitted, dtype=np.uint8).reshape(height, width, config.channels)
    if np.dtype(dtype) == np.uint8:
        tensor = pixels
    else:
        mean = np.asarray(config.mean, dtype=np.float32)
        std = np.asarray(config.std, dtype=np.float32)
        tensor = ((pixels.astype(np.float32) * np.float32(config.scale) - mean) / std)
    if config.layout == "NCHW":
        tensor = tensor.transpose(2, 0, 1)
    return np.ascontiguousarray(tensor, dtype=dtype)


def stack_pictures(rows: list[np.ndarray], shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """A batch's picture rows as one tensor ``[n, ...]`` (``shape``: one row's)."""
    if not rows:
        return np.zeros((0, *shape), dtype=dtype)
    return np.stack(rows).astype(dtype, copy=False)
