"""The apples_oranges example: its pictures are seeded and varied, the numpy CNN's gradients
match finite differences, its ONNX graph computes what numpy does, and the built model tells
apples from oranges in pictures it was not trained on."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from streaminfer.pipelines.devtools import example_cnn
from streaminfer.pipelines.devtools.example_pictures import (
    CLASSES,
    SIZE,
    fruit_pictures,
    normalized,
)


def test_pictures_are_seeded_balanced_and_varied() -> None:
    pictures, labels = fruit_pictures(40, seed=5)
    again, same = fruit_pictures(40, seed=5)
    assert pictures.shape == (40, SIZE, SIZE, 3) and pictures.dtype == np.uint8
    np.testing.assert_array_equal(pictures, again)
    np.testing.assert_array_equal(labels, same)
    assert np.bincount(labels).tolist() == [20, 20]
    other, _ = fruit_pictures(40, seed=6)
    assert not np.array_equal(pictures, other)
    assert len({p.tobytes() for p in pictures}) == 40
    dark, _ = fruit_pictures(40, seed=5, darkness=0.6)
    assert dark.mean() < 0.7 * pictures.mean()


def test_the_numpy_gradients_match_finite_differences() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, (3, 8, 8, 3))
    y = np.array([0, 1, 1])
    net = example_cnn.Cnn.new(rng, (3, 4, 5), 2)
    for name in net.names():
        setattr(net, name, getattr(net, name).astype(np.float64))

    def loss() -> float:
        probabilities = example_cnn.softmax(example_cnn.forward(net, x)[0])
        return float(-np.log(probabilities[np.arange(3), y]).sum())

    logits, cache = example_cnn.forward(net, x)
    grad = example_cnn.softmax(logits)
    grad[np.arange(3), y] -= 1
    grads = example_cnn.backward(net, grad, cache)
    for name in net.names():
        weight = getattr(net, name)
        for _ in range(4):
            at = tuple(int(rng.integers(0, s)) for s in weight.shape)
            old = weight[at]
            weight[at] = old + 1e-6
            up = loss()
            weight[at] = old - 1e-6
            down = loss()
            weight[at] = old
            assert grads[name][at] == pytest.approx((up - down) / 2e-6, rel=1e-4, abs=1e-7)


def test_the_onnx_graph_computes_what_numpy_does() -> None:
    pictures, labels = fruit_pictures(96, seed=3)
    x = normalized(pictures)
    net = example_cnn.train(x, labels, classes=2, epochs=1)
    session = ort.InferenceSession(example_cnn.cnn_onnx(net, SIZE),
                                   providers=["CPUExecutionProvider"])
    label, probabilities = session.run(["label", "probabilities"],
                                       {"image": np.ascontiguousarray(x.transpose(0, 3, 1, 2))})
    want = example_cnn.softmax(example_cnn.forward(net, x)[0])
    np.testing.assert_allclose(probabilities, want, atol=1e-5)
    np.testing.assert_array_equal(label, want.argmax(axis=1))


def test_the_built_model_tells_apples_from_oranges(model_factory) -> None:
    session = ort.InferenceSession(str(model_factory("apples_oranges")),
                                   providers=["CPUExecutionProvider"])
    pictures, labels = fruit_pictures(600, seed=99)  # not the training pictures (seed 20)
    feed = {"image": np.ascontiguousarray(normalized(pictures).transpose(0, 3, 1, 2))}
    [label] = session.run(["label"], feed)
    accuracy = float((label == labels).mean())
    assert accuracy >= 0.94, accuracy
    assert len(CLASSES) == 2
    dark, dark_labels = fruit_pictures(600, seed=99, darkness=0.6)
    [dark_label] = session.run(["label"], {"image": np.ascontiguousarray(
        normalized(dark).transpose(0, 3, 1, 2))})
    assert float((dark_label == dark_labels).mean()) < accuracy  # drift costs accuracy
