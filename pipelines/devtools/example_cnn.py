"""A small CNN trained with numpy alone (no torch), and written as ONNX: the picture
example's model (``example_pictures.py``).

Two blocks of Conv 3x3 (padding 1) + Relu + MaxPool 2x2, then GlobalAveragePool and a
dense layer to the logits. The forward pass keeps what the backward pass needs; the
convolutions are matrix products over 3x3 windows (``sliding_window_view``); Adam
minimizes the cross-entropy. Pictures are NHWC here; the ONNX graph takes NCHW.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Cnn:
    """The weights: conv kernels as ``[3 * 3 * in, out]`` (rows in (in, kh, kw) order)."""

    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    w3: np.ndarray  # [channels, classes]
    b3: np.ndarray
    moments: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    @classmethod
    def new(cls, rng: np.random.Generator, channels: tuple[int, int, int],
            classes: int) -> Cnn:
        c0, c1, c2 = channels

        def he(fan_in: int, out: int) -> np.ndarray:
            return (rng.normal(0, np.sqrt(2 / fan_in), (fan_in, out))).astype(np.float32)

        return cls(he(9 * c0, c1), np.zeros(c1, np.float32), he(9 * c1, c2),
                   np.zeros(c2, np.float32), he(c2, classes) / 2,
                   np.zeros(classes, np.float32))

    def names(self) -> tuple[str, ...]:
        return ("w1", "b1", "w2", "b2", "w3", "b3")


def _windows(x: np.ndarray) -> np.ndarray:
    """``[n, h, w, c]`` -> ``[n * h * w, c * 9]``: each pixel's 3x3 window (zero padded)."""
    n, h, w, c = x.shape
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    view = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(1, 2))
    return view.reshape(n * h * w, c * 9)  # a copy: view is [n, h, w, c, 3, 3]


def _unwindow(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The gradient of :func:`_windows`' input from that of its output."""
    n, h, w, c = shape
    g = grad.reshape(n, h, w, c, 3, 3)
    padded = np.zeros((n, h + 2, w + 2, c), dtype=grad.dtype)
    for i in range(3):
        for j in range(3):
            padded[:, i:i + h, j:j + w, :] += g[..., i, j]
    inner: np.ndarray = padded[:, 1:-1, 1:-1, :]
    return inner


def _pool(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n, h, w, c = x.shape
    blocks = x.reshape(n, h // 2, 2, w // 2, 2, c)
    out = blocks.max(axis=(2, 4))
    mask = blocks == out[:, :, None, :, None, :]
    return out, mask


def _unpool(grad: np.ndarray, mask: np.ndarray) -> np.ndarray:
    n, h, _, w, _, c = mask.shape
    spread = mask * grad[:, :, None, :, None, :] / mask.sum(axis=(2, 4), keepdims=True)
    out: np.ndarray = spread.reshape(n, h * 2, w * 2, c).astype(grad.dtype)
    return out


def forward(net: Cnn, x: np.ndarray) -> tuple[np.ndarray, list[Any]]:
    """The logits of NHWC pictures, and what the backward pass needs."""
    n, h, w, _ = x.shape
    cols1 = _windows(x)
    a1 = np.maximum(cols1 @ net.w1 + net.b1, 0).reshape(n, h, w, -1)
    p1, m1 = _pool(a1)
    cols2 = _windows(p1)
    a2 = np.maximum(cols2 @ net.w2 + net.b2, 0).reshape(n, h // 2, w // 2, -1)
    p2, m2 = _pool(a2)
    pooled = p2.mean(axis=(1, 2))
    logits = pooled @ net.w3 + net.b3
    return logits, [x.shape, cols1, a1, m1, p1.shape, cols2, a2, m2, p2.shape, pooled]


def backward(net: Cnn, grad: np.ndarray, cache: list[Any]) -> dict[str, np.ndarray]:
    """The gradients of the weights from that of the logits."""
    _, cols1, a1, m1, shape1, cols2, a2, m2, shape2, pooled = cache
    grads = {"w3": pooled.T @ grad, "b3": grad.sum(axis=0)}
    _, h2, w2, c2 = shape2
    g = np.broadcast_to((grad @ net.w3.T)[:, None, None, :] / (h2 * w2), shape2)
    g = _unpool(np.ascontiguousarray(g), m2) * (a2 > 0)
    g = g.reshape(-1, c2)
    grads["w2"], grads["b2"] = cols2.T @ g, g.sum(axis=0)
    g = _unwindow(g @ net.w2.T, shape1)
    g = _unpool(g, m1) * (a1 > 0)
    g = g.reshape(-1, a1.shape[-1])
    grads["w1"], grads["b1"] = cols1.T @ g, g.sum(axis=0)
    return grads


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return np.asarray(shifted / shifted.sum(axis=1, keepdims=True))


def train(x: np.ndarray, y: np.ndarray, *, classes: int, channels: tuple[int, int] = (8, 16),
          epochs: int = 12, batch: int = 64, rate: float = 0.01, seed: int = 0) -> Cnn:
    """A :class:`Cnn` fitted to NHWC pictures ``x`` (float32) and labels ``y`` by Adam."""
    rng = np.random.default_rng(seed)
    net = Cnn.new(rng, (x.shape[-1], *channels), classes)
    step = 0
    for epoch in range(epochs):
        order = rng.permutation(len(x))
        lr = rate * 0.5 * (1 + np.cos(np.pi * epoch / epochs))  # cosine decay
        for start in range(0, len(x), batch):
            picked = order[start:start + batch]
            logits, cache = forward(net, x[picked])
            grad = softmax(logits)
            grad[np.arange(len(picked)), y[picked]] -= 1
            step += 1
            _adam(net, backward(net, grad / len(picked), cache), lr, step)
    return net


def _adam(net: Cnn, grads: dict[str, np.ndarray], lr: float, step: int) -> None:
    for name in net.names():
        weight = getattr(net, name)
        m, v = net.moments.get(name, (np.zeros_like(weight), np.zeros_like(weight)))
        m = 0.9 * m + 0.1 * grads[name]
        v = 0.999 * v + 0.001 * grads[name] ** 2
        net.moments[name] = (m, v)
        m_hat, v_hat = m / (1 - 0.9**step), v / (1 - 0.999**step)
        setattr(net, name, (weight - lr * m_hat / (np.sqrt(v_hat) + 1e-8)).astype(np.float32))


def cnn_onnx(net: Cnn, size: int, input_name: str = "image") -> bytes:
    """The network as an ONNX graph: ``input_name`` float32 ``[batch, channels, size,
    size]`` (NCHW) to ``probabilities`` ``[batch, classes]`` and ``label`` ``[batch]``."""
    from onnx import TensorProto, helper, numpy_helper

    def const(name: str, value: np.ndarray) -> Any:
        return numpy_helper.from_array(np.ascontiguousarray(value, dtype=np.float32), name)

    def kernel(w: np.ndarray) -> np.ndarray:
        out: np.ndarray = w.T.reshape(w.shape[1], w.shape[0] // 9, 3, 3)  # [out, in, kh, kw]
        return out

    channels, classes = net.w1.shape[0] // 9, net.w3.shape[1]
    pads: dict[str, Any] = {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}
    pool: dict[str, Any] = {"kernel_shape": [2, 2], "strides": [2, 2]}
    nodes = [
        helper.make_node("Conv", [input_name, "w1", "b1"], ["c1"], **pads),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], **pool),
        helper.make_node("Conv", ["p1", "w2", "b2"], ["c2"], **pads),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("MaxPool", ["r2"], ["p2"], **pool),
        helper.make_node("GlobalAveragePool", ["p2"], ["gap"]),
        helper.make_node("Flatten", ["gap"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "w3", "b3"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        helper.make_node("ArgMax", ["logits"], ["label"], axis=1, keepdims=0),
    ]
    graph = helper.make_graph(
        nodes, "apples_oranges_cnn",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT,
                                       ["batch", channels, size, size])],
        [helper.make_tensor_value_info("label", TensorProto.INT64, ["batch"]),
         helper.make_tensor_value_info("probabilities", TensorProto.FLOAT,
                                       ["batch", classes])],
        initializer=[const("w1", kernel(net.w1)), const("b1", net.b1),
                     const("w2", kernel(net.w2)), const("b2", net.b2),
                     const("w3", net.w3), const("b3", net.b3)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return bytes(model.SerializeToString())
