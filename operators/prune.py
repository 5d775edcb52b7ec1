"""Pruning the dense layers (MatMul/Gemm with weight initializers) of an ONNX model.

- :func:`magnitude_prune` zeros the smallest weights of each layer. The matrices keep their
  shape, so ONNX Runtime's dense kernels do the same work: it buys no speed (measured in
  docs/optimization.md), only compressibility.
- :func:`structured_prune` removes whole hidden units (those whose incoming weights have the
  smallest L2 norm): the layer's weight columns and bias, and the next layer's weight rows, so
  the matrices really shrink.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from streaminfer.operators.onnx_graph import (
    DENSE,
    NotApplicable,
    dense_weights,
    initializers,
    load_proto,
    require_dense,
)

#: Elementwise activations a hidden layer may end with (a unit's removal keeps them valid).
ACTIVATIONS = ("Relu", "Tanh", "Sigmoid", "LeakyRelu", "Elu", "Selu", "Softplus", "HardSigmoid")


@dataclass(frozen=True)
class HiddenLayer:
    """A dense layer whose units feed, through an activation, the next dense layer."""

    weight: str
    transposed: bool  # Gemm transB=1: the weight is [units, inputs]
    bias: str | None
    next_weight: str
    next_transposed: bool


def _store(proto: Any, arrays: dict[str, np.ndarray]) -> bytes:
    from onnx import numpy_helper

    for init in proto.graph.initializer:
        if init.name in arrays:
            init.CopyFrom(numpy_helper.from_array(arrays[init.name], init.name))
    del proto.graph.value_info[:]  # stale shapes of inner tensors; ONNX Runtime infers them
    return bytes(proto.SerializeToString())


def _transposed(node: Any, index: int) -> bool:
    """Whether Gemm's input ``index`` (0: A, 1: B) is transposed."""
    attr = "transA" if index == 0 else "transB"
    return any(a.name == attr and a.i == 1 for a in node.attribute)


def magnitude_prune(model: bytes, sparsity: float) -> bytes:
    """Zero the ``sparsity`` share of each dense layer's weights with the smallest magnitude."""
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity {sparsity} is not in [0, 1)")
    require_dense(model, "magnitude pruning")
    proto = load_proto(model)
    names = dense_weights(proto)
    arrays = initializers(proto)
    changed = {}
    for name in names:
        weight = arrays[name].copy()
        count = int(sparsity * weight.size)
        if count:
            smallest = np.argpartition(np.abs(weight).ravel(), count - 1)[:count]
            weight.ravel()[smallest] = 0.0
        changed[name] = weight
    return _store(proto, changed)


def hidden_layers(proto: Any) -> list[HiddenLayer]:
    """The dense layers, in graph order, that Dense (+ bias Add) -> activation -> Dense chains
    start with; every tensor on the chain has one consumer, every weight one user."""
    arrays = initializers(proto)
    nodes = list(proto.graph.node)
    consumers: dict[str, list[Any]] = {}
    for node in nodes:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def only(tensor: str) -> Any | None:
        users = consumers.get(tensor, [])
        return users[0] if len(users) == 1 else None

    def dense(node: Any | None, via: str) -> bool:
        return (node is not None and node.op_type in DENSE and node.input[0] == via
                and node.input[1] in arrays and arrays[node.input[1]].ndim == 2
                and len(consumers[node.input[1]]) == 1
                and not (node.op_type == "Gemm" and _transposed(node, 0)))

    layers = []
    for node in nodes:
        if not dense(node, node.input[0]):
            continue
        bias = node.input[2] if node.op_type == "Gemm" and len(node.input) > 2 else None
        out = node.output[0]
        add = only(out)
        if bias is None and add is not None and add.op_type == "Add":
            other = add.input[1] if add.input[0] == out else add.input[0]
            if other in arrays and len(consumers[other]) == 1:
                bias, out = other, add.output[0]
                add = only(out)
        activation = add
        if activation is None or activation.op_type not in ACTIVATIONS:
            continue
        following = only(activation.output[0])
        if following is None or not dense(following, activation.output[0]):
            continue
        layers.append(HiddenLayer(
            node.input[1], node.op_type == "Gemm" and _transposed(node, 1), bias,
            following.input[1], following.op_type == "Gemm" and _transposed(following, 1)))
    return layers


def units_to_keep(weight: np.ndarray, fraction: float) -> np.ndarray:
    """Indices (ascending) of the units to keep when ``fraction`` of them go: the largest L2
    norms of incoming weights (``weight`` is [inputs, units]); at least one stays.

    >>> units_to_keep(np.array([[3.0, 0.1, 1.0], [4.0, 0.1, 1.0]]), 0.5).tolist()
    [0, 2]
    """
    units = weight.shape[1]
    keep = max(1, units - int(fraction * units))
    norms = np.linalg.norm(weight, axis=0)
    return np.sort(np.argsort(-norms, kind="stable")[:keep])


def structured_prune(model: bytes, fraction: float) -> bytes:
    """Remove ``fraction`` of the units of every hidden layer (see :func:`units_to_keep`)."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction {fraction} is not in [0, 1)")
    proto = load_proto(model)
    layers = hidden_layers(proto)
    if not layers:
        raise NotApplicable("no hidden layer (Dense -> activation -> Dense) to shrink")
    arrays = initializers(proto)
    for layer in layers:
        weight = arrays[layer.weight]
        incoming = weight.T if layer.transposed else weight
        keep = units_to_keep(incoming, fraction)
        arrays[layer.weight] = np.ascontiguousarray(
            weight[keep, :] if layer.transposed else weight[:, keep])
        if layer.bias is not None:
            arrays[layer.bias] = np.ascontiguousarray(np.take(arrays[layer.bias], keep, axis=-1))
        following = arrays[layer.next_weight]
        arrays[layer.next_weight] = np.ascontiguousarray(
            following[:, keep] if layer.next_transposed else following[keep, :])
    return _store(proto, {name: arrays[name] for layer in layers
                          for name in (layer.weight, layer.bias, layer.next_weight) if name})
