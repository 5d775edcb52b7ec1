"""The picture example (``apples_oranges``): a small CNN that tells apples from oranges in
32x32 RGB pictures, the essay's example.

The pictures are drawn here, procedurally, with a fixed seed (no download): a fruit of
varied colour, size and position, lit from a varied side, on a varied background, with
noise; some partly hidden behind a block. Apples are red, green or yellow, a little wider
than tall, with a notch, a stem and sometimes a leaf; oranges are orange, round, with a
dimpled peel and a navel. The CNN (Conv 3x3 + Relu + MaxPool twice, GlobalAveragePool,
Gemm to two logits, Softmax and ArgMax) is trained with a forward and backward pass
written in numpy (Adam, cross-entropy) and written as an ONNX graph with the onnx helper
API. It takes ``image`` float32 ``[batch, 3, 32, 32]``, pixels scaled by 1/255 then
``(x - 0.5) / 0.25`` (:data:`MEAN`, :data:`STD`; ``configs/pictures.yaml`` says so).

The trained model ships beside this file (``apples_oranges.onnx`` and its sha256), so
``build-models`` and the pictures demo need no training; ``python -m
streaminfer.pipelines.devtools.example_pictures`` trains it again (seeded, one thread: the
same file) and writes it there.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

if TYPE_CHECKING:
    from streaminfer.operators.pictures import PictureConfig

#: The classes, by label index.
CLASSES = ("apple", "orange")
SIZE = 32
MEAN, STD = 0.5, 0.25
#: The trained model as shipped (``python -m streaminfer.pipelines.devtools.example_pictures``).
SHIPPED = Path(__file__).with_name("apples_oranges.onnx")


def _palette(rng: np.random.Generator, label: int) -> np.ndarray:
    if label == 1:  # orange: from deep orange to pale
        return np.array([rng.uniform(215, 255), rng.uniform(105, 170), rng.uniform(0, 45)])
    kind = rng.integers(3)
    if kind == 0:  # red
        return np.array([rng.uniform(150, 230), rng.uniform(15, 70), rng.uniform(15, 60)])
    if kind == 1:  # green
        return np.array([rng.uniform(90, 170), rng.uniform(160, 220), rng.uniform(30, 90)])
    return np.array([rng.uniform(205, 245), rng.uniform(185, 225), rng.uniform(50, 110)])


def draw_fruit(rng: np.random.Generator, label: int, darkness: float = 0.0) -> np.ndarray:
    """One ``SIZE`` x ``SIZE`` RGB picture (uint8 ``[H, W, 3]``) of an apple (0) or an orange
    (1). ``darkness`` (0-1) dims the light, for pictures taken as the evening falls."""
    s = SIZE
    y, x = np.mgrid[0:s, 0:s].astype(np.float64) + 0.5
    top, bottom = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    ramp = (y / s)[..., None]
    picture = top * (1 - ramp) + bottom * ramp
    if rng.random() < 0.4:  # a table edge
        edge = rng.uniform(0.5, 0.9) * s
        picture = np.where((y > edge)[..., None], rng.uniform(0, 255, 3), picture)
    r = rng.uniform(0.2, 0.38) * s
    cx, cy = rng.uniform(r * 0.7, s - r * 0.7), rng.uniform(r * 0.8, s - r * 0.7)
    wide = rng.uniform(1.05, 1.15) if label == 0 else rng.uniform(0.97, 1.03)
    rx, ry = r * wide, r / wide
    dx, dy = (x - cx) / rx, (y - cy) / ry
    dist = np.sqrt(dx**2 + dy**2)
    inside = np.clip((1 - dist) * r + 0.5, 0, 1)
    colour = _palette(rng, label)
    shade = np.ones_like(x)
    if label == 0:
        notch = np.sqrt((x - cx) ** 2 + (y - (cy - ry)) ** 2)
        inside *= np.clip(notch - 0.22 * r + 0.5, 0, 1)
        if rng.random() < 0.5:  # a blush of red over yellow or green
            blush = np.clip(1 - np.sqrt(((x - cx - rng.uniform(-r, r) / 2) / r) ** 2
                                        + ((y - cy) / r) ** 2), 0, 1)[..., None]
            fruit = colour * (1 - 0.6 * blush) + np.array([200, 40, 30]) * 0.6 * blush
        else:
            fruit = np.broadcast_to(colour, (s, s, 3)).copy()
    else:
        dimples = rng.normal(0, 1, (s, s))
        shade *= 1 + 0.08 * (dimples - np.roll(dimples, 1, axis=1))
        fruit = np.broadcast_to(colour, (s, s, 3)).copy()
        nx, ny = cx + rng.uniform(-0.3, 0.3) * r, cy + rng.uniform(-0.3, 0.3) * r
        navel = np.clip(1.2 - np.sqrt((x - nx) ** 2 + (y - ny) ** 2), 0, 1)
        shade *= 1 - 0.35 * navel
    angle = rng.uniform(0, 2 * np.pi)
    lx, ly = np.cos(angle), np.sin(angle)
    nz = np.sqrt(np.clip(1 - dist**2, 0, 1))
    light = 0.55 + 0.45 * np.clip(0.6 * nz + 0.5 * (dx * lx + dy * ly), 0, 1)
    highlight = np.exp(-(((dx - 0.4 * lx) ** 2 + (dy - 0.4 * ly) ** 2) / 0.04))
    fruit = fruit * (shade * light)[..., None] + 60 * highlight[..., None]
    picture = picture * (1 - inside[..., None]) + fruit * inside[..., None]
    if label == 0:  # the stem, and sometimes a leaf
        sx = cx + rng.uniform(-0.1, 0.1) * r
        stem = (np.abs(x - sx - (cy - ry - y) * 0.3) < 0.8) & (y > cy - ry - 0.35 * r) & \
            (y < cy - ry + 0.2 * r)
        picture[stem] = rng.uniform(60, 110, 3) * np.array([1.0, 0.7, 0.4])
        if rng.random() < 0.5:
            leaf = (((x - sx - 0.3 * r) / (0.3 * r)) ** 2 + ((y - (cy - ry)) / (0.13 * r)) ** 2) < 1
            picture[leaf] = np.array([40, rng.uniform(110, 170), 40])
    if rng.random() < 0.3:  # partly hidden behind a block
        side = rng.integers(4)
        cut = rng.uniform(0.25, 0.5)
        block = [x < cx - rx + cut * 2 * rx, x > cx + rx - cut * 2 * rx,
                 y > cy + ry - cut * 2 * ry, y < cy - ry + cut * 2 * ry][side]
        picture[block] = rng.uniform(0, 255, 3)
    brightness = rng.uniform(0.65, 1.3) * (1 - 0.75 * darkness)
    picture = picture * brightness + rng.normal(0, rng.uniform(0, 12), (s, s, 3))
    out: np.ndarray = np.clip(np.rint(picture), 0, 255).astype(np.uint8)
    return out


def fruit_pictures(count: int, seed: int, darkness: float = 0.0) -> tuple[np.ndarray,
                                                                          np.ndarray]:
    """``count`` pictures (uint8 ``[n, SIZE, SIZE, 3]``, half of each class, shuffled) and
    their labels (indices of :data:`CLASSES`)."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(count) % len(CLASSES))
    pictures = np.stack([draw_fruit(rng, int(label), darkness) for label in labels]) \
        if count else np.zeros((0, SIZE, SIZE, 3), dtype=np.uint8)
    return pictures, labels.astype(np.int64)


def png_base64(picture: np.ndarray) -> str:
    """A picture as PNG bytes in base64 text, as events carry it."""
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(picture, "RGB").save(out, "PNG")
    return base64.b64encode(out.getvalue()).decode("ascii")


def training_pictures() -> tuple[np.ndarray, np.ndarray]:
    """What the example is trained on: 2400 :func:`fruit_pictures` (seed 20)."""
    return fruit_pictures(2400, seed=20)


def normalized(pictures: np.ndarray) -> np.ndarray:
    """Pictures as the model takes them, NHWC float32 (the ONNX graph takes NCHW)."""
    return ((pictures.astype(np.float32) / 255 - MEAN) / STD).astype(np.float32)


def train_apples_oranges() -> bytes:
    """The example CNN, trained on :func:`training_pictures` (the same each time: seeded),
    as ONNX bytes."""
    from streaminfer.pipelines.devtools.example_cnn import cnn_onnx, train

    pictures, labels = training_pictures()
    with threadpool_limits(1):  # small products: threads only contend
        net = train(normalized(pictures), labels, classes=len(CLASSES), epochs=12)
    return cnn_onnx(net, SIZE)


def picture_config() -> PictureConfig:
    """How the pipeline decodes the example's pictures (``configs/pictures.yaml`` says so):
    RGB, NCHW, the centre square, pixel / 255 then ``(x - MEAN) / STD``."""
    from streaminfer.operators.pictures import PictureConfig

    return PictureConfig(scale=1 / 255, mean=(MEAN,), std=(STD,))


def shipped_apples_oranges() -> bytes:
    """The shipped CNN's bytes, checked against its shipped sha256."""
    from streaminfer.operators.model_runner import read_model_file

    return read_model_file(SHIPPED)


if __name__ == "__main__":  # train the example again and ship it
    from streaminfer.operators.model_runner import write_model_file

    print(write_model_file(train_apples_oranges(), SHIPPED))
