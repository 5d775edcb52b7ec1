"""The ``model.inputs.NAME.picture`` section: a picture in an event field to an input tensor."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from streaminfer.operators.pictures import PictureConfig
from streaminfer.pipelines.spec.base import FrozenModel

#: Pillow's own limit; above twice it Pillow refuses a picture before streaminfer looks.
PILLOW_MAX_PIXELS = 89_478_485


class PictureSpec(FrozenModel):
    """The input's event field holds a picture (JPEG, PNG or WebP) as base64 text: decoded,
    turned upright (EXIF), converted, resized, scaled and laid out as the model takes it;
    the element type (float, float16, double or uint8) is the model input's
    (docs/inputs.md, 'Pictures')."""

    mode: Literal["RGB", "L"] = Field(
        "RGB", description="Colour (RGB: 3 channels) or grey (L: 1 channel). CMYK and "
        "palettes are converted; alpha is composited over 'background'; 16-bit grey is "
        "scaled to 8 bits.",
    )
    layout: Literal["NCHW", "NHWC"] = Field(
        "NCHW", description="The input's axes: [batch, channels, height, width] (NCHW) or "
        "[batch, height, width, channels] (NHWC).",
    )
    size: tuple[int, int] | None = Field(
        None, description="[height, width] pictures are resized to (1 to 16384 each); "
        "default: the model input's (required when those axes are dynamic).",
    )
    resize: Literal["crop", "letterbox"] = Field(
        "crop", description="'crop': scale the shorter side to fit, then cut the centre; "
        "'letterbox': scale the longer side to fit, centred on 'background'.",
    )
    resample: Literal["nearest", "bilinear", "bicubic", "lanczos"] = Field(
        "bilinear", description="Pillow's filter for resizing.",
    )
    scale: float = Field(
        1.0, gt=0, description="Each pixel (0-255) is multiplied by this first, e.g. "
        "0.00392156862745098 (1/255) for 0-1; not with a uint8 input.",
    )
    mean: tuple[float, ...] = Field(
        (0.0,), min_length=1, max_length=3,
        description="Subtracted after 'scale': one value, or one per channel (RGB order).",
    )
    std: tuple[float, ...] = Field(
        (1.0,), min_length=1, max_length=3,
        description="Divided by after 'mean': one value, or one per channel; each above 0.",
    )
    background: tuple[int, int, int] = Field(
        (255, 255, 255), description="RGB colour under transparent pixels and around a "
        "letterboxed picture.",
    )
    max_pixels: int = Field(
        40_000_000, ge=1, le=PILLOW_MAX_PIXELS,
        description="A picture with more pixels (width x height, read from its header "
        "before decoding) is dead-lettered (error.type picture_too_large): a "
        "decompression bomb costs nothing.",
    )
    formats: tuple[Literal["JPEG", "PNG", "WEBP"], ...] = Field(
        ("JPEG", "PNG", "WEBP"), min_length=1,
        description="The formats accepted; other bytes are dead-lettered (error.type "
        "not_a_picture).",
    )

    @model_validator(mode="after")
    def _valid(self) -> PictureSpec:
        if any(s <= 0 for s in self.std):
            raise ValueError("every std must be above 0")
        if any(not 0 <= c <= 255 for c in self.background):
            raise ValueError("background colours lie in 0-255")
        if self.size is not None and not 1 <= min(self.size) <= max(self.size) <= 16_384:
            raise ValueError("size is [height, width], each from 1 to 16384")
        return self

    def operator(self) -> PictureConfig:
        """This section as the scoring operators take it."""
        return PictureConfig(mode=self.mode, layout=self.layout, size=self.size,
                             resize=self.resize, resample=self.resample, scale=self.scale,
                             mean=self.mean, std=self.std, background=self.background,
                             max_pixels=self.max_pixels, formats=self.formats)
