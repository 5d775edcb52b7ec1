"""Channel pruning of convolutions on the picture example's CNN graph (random weights, some
filters dead): dead channels go without changing a single output, the kernels shrink, and a
model without such convolutions says why it does not apply."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from streaminfer.operators.onnx_graph import NotApplicable, initializers, load_proto
from streaminfer.operators.prune import channel_prune, conv_chains
from streaminfer.pipelines.devtools.example_cnn import Cnn, cnn_onnx

C1, C2, CLASSES = 8, 16, 2


def cnn(dead1: list[int], dead2: list[int]) -> bytes:
    """The example's CNN graph with random weights; the filters ``dead1`` (first conv) and
    ``dead2`` (second) output nothing but zeros after their Relu."""
    rng = np.random.default_rng(3)
    net = Cnn.new(rng, (3, C1, C2), CLASSES)
    net.b1, net.b2 = rng.normal(0, 0.1, C1).astype(np.float32), rng.normal(0, 0.1, C2).astype(
        np.float32)
    net.w1[:, dead1], net.b1[dead1] = 0.0, -1.0  # relu(-1) = 0 everywhere
    net.w2[:, dead2], net.b2[dead2] = 0.0, -1.0
    return cnn_onnx(net, 16)


def run(model: bytes, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    return np.asarray(session.run(["probabilities"], {"image": x})[0])


def test_the_chains_are_conv_to_conv_and_conv_through_the_global_pool_to_the_dense_layer(
) -> None:
    chains = conv_chains(load_proto(cnn([], [])))
    assert [(c.weight, c.bias, c.next_weight, c.next_axis) for c in chains] == [
        ("w1", "b1", "w2", 1), ("w2", "b2", "w3", 0)]


def test_dead_channels_go_and_nothing_else_changes() -> None:
    dead1, dead2 = [1, 6], [0, 5, 9, 14]  # a quarter of each layer's channels
    model = cnn(dead1, dead2)
    pruned = channel_prune(model, 0.25)
    arrays, before = initializers(load_proto(pruned)), initializers(load_proto(model))
    keep1 = [c for c in range(C1) if c not in dead1]
    keep2 = [c for c in range(C2) if c not in dead2]
    assert arrays["w1"].shape == (6, 3, 3, 3) and arrays["b1"].shape == (6,)
    assert arrays["w2"].shape == (12, 6, 3, 3) and arrays["w3"].shape == (12, CLASSES)
    np.testing.assert_array_equal(arrays["w1"], before["w1"][keep1])
    np.testing.assert_array_equal(arrays["w2"], before["w2"][keep2][:, keep1])
    np.testing.assert_array_equal(arrays["w3"], before["w3"][keep2])
    x = np.random.default_rng(4).normal(0, 1, (5, 3, 16, 16)).astype(np.float32)
    np.testing.assert_allclose(run(pruned, x), run(model, x), rtol=1e-5, atol=1e-6)


def test_a_model_without_such_convolutions_is_not_applicable() -> None:
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[1, 1])]
    graph = helper.make_graph(  # its channels are the graph's output: they cannot go
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 1, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 2, 4, 4])],
        initializer=[helper.make_tensor("w", TensorProto.FLOAT, [2, 1, 1, 1], [1.0, 2.0])])
    with pytest.raises(NotApplicable, match="no convolution whose output channels feed"):
        channel_prune(bytes(helper.make_model(graph).SerializeToString()), 0.5)
    with pytest.raises(ValueError, match="fraction"):
        channel_prune(cnn([], []), 1.0)
