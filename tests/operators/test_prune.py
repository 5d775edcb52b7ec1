"""Pruning on small MLP graphs built with the ONNX helper API: the arithmetic is checked
against numpy, the graph stays valid, and the matrices really shrink."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from streaminfer.operators.onnx_graph import NotApplicable, initializers, load_proto
from streaminfer.operators.prune import (
    hidden_layers,
    magnitude_prune,
    structured_prune,
    units_to_keep,
)

RNG = np.random.default_rng(3)
W1, B1 = RNG.normal(size=(6, 8)).astype(np.float32), RNG.normal(size=8).astype(np.float32)
W2, B2 = RNG.normal(size=(8, 5)).astype(np.float32), RNG.normal(size=5).astype(np.float32)
W3, B3 = RNG.normal(size=(5, 3)).astype(np.float32), RNG.normal(size=3).astype(np.float32)


def mlp(gemm: bool) -> bytes:
    """6 -> 8 -> 5 -> 3: MatMul+Add layers, or Gemm layers with transB=1 (weights [out, in])."""
    def layer(i: int, x: str, w: np.ndarray, b: np.ndarray) -> tuple[list[Any], list[Any]]:
        if gemm:
            node = helper.make_node("Gemm", [x, f"w{i}", f"b{i}"], [f"z{i}"], transB=1)
            inits = [numpy_helper.from_array(w.T.copy(), f"w{i}"),
                     numpy_helper.from_array(b, f"b{i}")]
            return [node], inits
        nodes = [helper.make_node("MatMul", [x, f"w{i}"], [f"m{i}"]),
                 helper.make_node("Add", [f"m{i}", f"b{i}"], [f"z{i}"])]
        return nodes, [numpy_helper.from_array(w, f"w{i}"),
                       numpy_helper.from_array(b.reshape(1, -1), f"b{i}")]

    nodes, inits = [], []
    x = "x"
    for i, (w, b) in enumerate(((W1, B1), (W2, B2), (W3, B3)), start=1):
        n, init = layer(i, x, w, b)
        nodes += n
        inits += init
        if i < 3:
            nodes.append(helper.make_node("Relu", [f"z{i}"], [f"a{i}"]))
            x = f"a{i}"
    graph = helper.make_graph(
        nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 6])],
        [helper.make_tensor_value_info("z3", TensorProto.FLOAT, ["n", 3])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def run(model: bytes, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {"x": x})[0])


def numpy_mlp(x: np.ndarray, k1: np.ndarray, k2: np.ndarray) -> np.ndarray:
    h1 = np.maximum(x @ W1[:, k1] + B1[k1], 0)
    h2 = np.maximum(h1 @ W2[np.ix_(k1, k2)] + B2[k2], 0)
    return np.asarray(h2 @ W3[k2, :] + B3)


@pytest.mark.parametrize("gemm", [False, True], ids=["matmul-add", "gemm-transB"])
def test_structured_pruning_drops_the_weakest_units_and_computes_the_rest(gemm: bool) -> None:
    x = RNG.normal(size=(7, 6)).astype(np.float32)
    pruned = structured_prune(mlp(gemm), 0.5)
    onnx.checker.check_model(load_proto(pruned))
    k1, k2 = units_to_keep(W1, 0.5), units_to_keep(W2[k1_all := units_to_keep(W1, 0.5)], 0.5)
    assert list(k1) == list(k1_all) and len(k1) == 4 and len(k2) == 3  # 8 -> 4, 5 -> 3 (5-2)
    np.testing.assert_allclose(run(pruned, x), numpy_mlp(x, k1, k2), rtol=1e-4, atol=1e-4)
    shapes = {name: a.shape for name, a in initializers(load_proto(pruned)).items()}
    if gemm:
        assert shapes["w1"] == (4, 6) and shapes["w2"] == (3, 4) and shapes["w3"] == (3, 3)
    else:
        assert shapes["w1"] == (6, 4) and shapes["w2"] == (4, 3) and shapes["w3"] == (3, 3)
        assert shapes["b1"] == (1, 4) and shapes["b2"] == (1, 3)


def test_pruning_nothing_keeps_the_outputs() -> None:
    x = RNG.normal(size=(5, 6)).astype(np.float32)
    model = mlp(False)
    np.testing.assert_allclose(run(structured_prune(model, 0.0), x), run(model, x), rtol=1e-6)
    np.testing.assert_allclose(run(magnitude_prune(model, 0.0), x), run(model, x), rtol=1e-6)


def test_units_are_ranked_by_the_l2_norm_of_their_incoming_weights() -> None:
    weight = np.array([[1.0, 0.0, 5.0, 0.1], [1.0, 0.2, 0.0, 0.1]])  # norms 1.41 .2 5 .14
    assert units_to_keep(weight, 0.5).tolist() == [0, 2]
    assert units_to_keep(weight, 0.99).tolist() == [2]  # at least one stays


def test_the_hidden_layers_of_both_forms_are_found() -> None:
    assert [layer.weight for layer in hidden_layers(load_proto(mlp(False)))] == ["w1", "w2"]
    gemm = hidden_layers(load_proto(mlp(True)))
    assert [(layer.weight, layer.transposed, layer.bias) for layer in gemm] == [
        ("w1", True, "b1"), ("w2", True, "b2")]


@pytest.mark.parametrize("sparsity", [0.3, 0.75])
def test_magnitude_pruning_zeros_the_smallest_share_of_each_layer(sparsity: float) -> None:
    arrays = initializers(load_proto(magnitude_prune(mlp(False), sparsity)))
    for name, original in (("w1", W1), ("w2", W2), ("w3", W3)):
        pruned = arrays[name]
        assert pruned.shape == original.shape  # dense: nothing shrinks
        zeros = pruned == 0
        assert zeros.sum() == int(sparsity * original.size)
        assert np.abs(original[zeros]).max() <= np.abs(original[~zeros]).min()
        np.testing.assert_array_equal(pruned[~zeros], original[~zeros])


def test_a_model_without_dense_weights_is_not_applicable() -> None:
    node = helper.make_node("Relu", ["x"], ["y"])
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 2])])
    model = bytes(helper.make_model(graph).SerializeToString())
    with pytest.raises(NotApplicable, match="MatMul/Gemm"):
        magnitude_prune(model, 0.5)
    with pytest.raises(NotApplicable, match="hidden layer"):
        structured_prune(model, 0.5)


def test_levels_outside_the_range_are_refused() -> None:
    with pytest.raises(ValueError, match="sparsity"):
        magnitude_prune(mlp(False), 1.0)
    with pytest.raises(ValueError, match="fraction"):
        structured_prune(mlp(False), -0.1)
