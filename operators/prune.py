"""Pruning the dense layers (MatMul/Gemm with weight initializers) and the convolutions of an
ONNX model.

- :func:`magnitude_prune` zeros the smallest weights of each layer. The matrices keep their
  shape, so ONNX Runtime's dense kernels do the same work: it buys no speed (measured in
  docs/optimization.md), only compressibility.
- :func:`structured_prune` removes whole hidden units (those whose incoming weights have the
  smallest L2 norm): the layer's weight columns and bias, and the next layer's weight rows, so
  the matrices really shrink.
- :func:`channel_prune` removes whole output channels of convolutions (the filters with the
  smallest L2 norm) and the next layer's inputs they fed: the kernels really shrink.
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


#: Operators that work channel by channel: removing a channel keeps them valid.
PER_CHANNEL = (*ACTIVATIONS, "MaxPool", "AveragePool", "LpPool")
GLOBAL_POOLS = ("GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool")


@dataclass(frozen=True)
class ConvChannels:
    """A convolution whose output channels feed, through per-channel operators, another
    convolution (its input channels) or, after a global pool and a Flatten, a dense layer
    (its input rows)."""

    weight: str  # [out, in, kh, kw]
    bias: str | None
    next_weight: str
    next_axis: int  # the axis of the next weight that indexes the channels


def conv_chains(proto: Any) -> list[ConvChannels]:
    """The convolutions (group 1, weights as initializers) whose output channels can go:
    every tensor on the chain has one consumer and is no graph output."""
    arrays = initializers(proto)
    outputs = {o.name for o in proto.graph.output}
    consumers: dict[str, list[Any]] = {}
    for node in proto.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def only(tensor: str) -> Any | None:
        users = consumers.get(tensor, [])
        return users[0] if len(users) == 1 and tensor not in outputs else None

    def weight_of(node: Any, via: str, ndim: int) -> str | None:
        if node.input[0] != via or len(node.input) < 2:
            return None
        name = node.input[1]
        ok = name in arrays and arrays[name].ndim == ndim and len(consumers[name]) == 1
        return name if ok else None

    def conv(node: Any, via: str) -> str | None:
        grouped = any(a.name == "group" and a.i != 1 for a in node.attribute)
        return None if node.op_type != "Conv" or grouped else weight_of(node, via, 4)

    chains = []
    for node in proto.graph.node:
        weight = conv(node, node.input[0])
        bias = node.input[2] if len(node.input) > 2 and node.input[2] else None
        if weight is None or (bias is not None and (bias not in arrays
                                                     or len(consumers[bias]) != 1)):
            continue
        tensor, pooled, flat = node.output[0], False, False
        following = only(tensor)
        while following is not None and not flat and (
                following.op_type in PER_CHANNEL or following.op_type in GLOBAL_POOLS
                or (pooled and following.op_type == "Flatten"
                    and all(a.i == 1 for a in following.attribute if a.name == "axis"))):
            pooled = pooled or following.op_type in GLOBAL_POOLS
            flat = following.op_type == "Flatten"
            tensor = following.output[0]
            following = only(tensor)
        if following is None:
            continue
        if not flat and (nxt := conv(following, tensor)) is not None:
            chains.append(ConvChannels(weight, bias, nxt, 1))
        elif (flat and following.op_type in DENSE
              and not (following.op_type == "Gemm" and _transposed(following, 0))
              and (nxt := weight_of(following, tensor, 2)) is not None):
            turned = following.op_type == "Gemm" and _transposed(following, 1)
            chains.append(ConvChannels(weight, bias, nxt, 1 if turned else 0))
    return chains


def channel_prune(model: bytes, fraction: float) -> bytes:
    """Remove ``fraction`` of the output channels of every convolution :func:`conv_chains`
    finds (those whose filters have the smallest L2 norm), and the inputs they fed."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction {fraction} is not in [0, 1)")
    proto = load_proto(model)
    chains = conv_chains(proto)
    if not chains:
        raise NotApplicable("no convolution whose output channels feed, through per-channel "
                            "operators, another convolution or a dense layer")
    arrays = initializers(proto)
    for chain in chains:
        weight = arrays[chain.weight]
        keep = units_to_keep(weight.reshape(weight.shape[0], -1).T, fraction)
        arrays[chain.weight] = np.ascontiguousarray(weight[keep])
        if chain.bias is not None:
            arrays[chain.bias] = np.ascontiguousarray(arrays[chain.bias][keep])
        arrays[chain.next_weight] = np.ascontiguousarray(
            np.take(arrays[chain.next_weight], keep, axis=chain.next_axis))
    return _store(proto, {name: arrays[name] for chain in chains
                          for name in (chain.weight, chain.bias, chain.next_weight) if name})
