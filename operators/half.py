"""fp16 conversion for GPUs (onnxconverter-common): weights and arithmetic in float16,
inputs and outputs kept float32 so a pipeline feeds the model as before.

Operators without float16 kernels (ai.onnx.ml's, the text operators of a TF-IDF graph) stay
in float32; when they hold most of the model's float weights (a linear model, a TF-IDF
pipeline) fp16 does not apply: converting the rest would only add casts.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from streaminfer.errors import ModelError
from streaminfer.operators.onnx_graph import NotApplicable, initializers

FLOAT, FLOAT16 = 1, 10  # onnx.TensorProto element types
#: Text operators without float16 kernels, besides onnxconverter-common's own block list.
TEXT_OPS = ("TfIdfVectorizer", "Tokenizer", "StringNormalizer")


def kept_in_float(node: Any) -> bool:
    """Whether the converter must leave ``node`` in float32."""
    from onnxconverter_common import float16

    return (node.domain not in ("", "ai.onnx") or node.op_type in TEXT_OPS
            or node.op_type in float16.DEFAULT_OP_BLOCK_LIST)


def _attribute_floats(node: Any) -> int:
    """How many float weights ``node`` holds in its attributes (ai.onnx.ml's way)."""
    return sum(len(a.floats) + sum(int(np.prod(t.dims)) for t in [a.t, *a.tensors]
                                   if t.data_type == FLOAT) for a in node.attribute)


def float_weights(proto: Any) -> tuple[int, int, list[str]]:
    """Float weights in operators the converter turns to float16, those it keeps in float32
    (initializers and attributes), and the kept operators' types."""
    arrays = {name: a for name, a in initializers(proto).items() if a.dtype == np.float32}
    converted: set[str] = set()
    kept, kept_ops = 0, []
    for node in proto.graph.node:
        if kept_in_float(node):
            kept += _attribute_floats(node)
            kept_ops.append(node.op_type)
        else:
            converted.update(name for name in node.input if name in arrays)
    kept += sum(a.size for name, a in arrays.items() if name not in converted)
    return sum(arrays[name].size for name in converted), kept, sorted(set(kept_ops))


def require_float16_weights(proto: Any) -> None:
    """Raise :class:`NotApplicable` unless most float weights are in operators with float16
    kernels."""
    converted, kept, ops = float_weights(proto)
    if converted == 0 or kept >= converted:
        where = f" are in {', '.join(ops)}, which have" if ops else " have"
        raise NotApplicable(f"fp16: {kept:,} of the model's {converted + kept:,} float weights"
                            f"{where} no float16 kernels; converting the rest would only add "
                            "casts")


def to_fp16(model: bytes) -> bytes:
    """The model in float16, checked by ``onnx.checker`` (raises :class:`ModelError` if the
    converted graph is invalid, :class:`NotApplicable` when most of its weights must stay
    float32)."""
    import onnx
    from onnxconverter_common import float16

    proto = onnx.load_model_from_string(model)
    require_float16_weights(proto)
    blocked = sorted({n.op_type for n in proto.graph.node if kept_in_float(n)}
                     | set(float16.DEFAULT_OP_BLOCK_LIST))
    _drop_noop_input_casts(proto)
    with warnings.catch_warnings():  # one warning per weight too small for float16
        warnings.simplefilter("ignore", UserWarning)
        converted = float16.convert_float_to_float16(proto, keep_io_types=True,
                                                     op_block_list=blocked)
    _retarget_casts(converted)
    try:
        onnx.checker.check_model(converted)
    except onnx.checker.ValidationError as exc:
        raise ModelError(f"the fp16 conversion is not a valid model: {exc}") from None
    return bytes(converted.SerializeToString())


def _retarget_casts(proto: Any) -> None:
    """The converter types a Cast's output float16 but leaves the Cast casting to float32
    (scikit-learn graphs have one after their Scaler): make the Cast agree."""
    types = {v.name: v.type.tensor_type.elem_type for v in proto.graph.value_info}
    for node in proto.graph.node:
        if node.op_type == "Cast" and types.get(node.output[0]) == FLOAT16:
            for attr in node.attribute:
                if attr.name == "to" and attr.i == FLOAT:
                    attr.i = FLOAT16


def _drop_noop_input_casts(proto: Any) -> None:
    """Remove a Cast of a graph input to the type it already has (scikit-learn graphs without
    a Scaler start with ``Cast(X)`` to float): the converter, keeping the inputs float32,
    drops that Cast together with its own, and leaves MatMul mixing float32 and float16."""
    inputs = {v.name: v.type.tensor_type.elem_type for v in proto.graph.input}
    outputs = {v.name for v in proto.graph.output}
    for node in list(proto.graph.node):
        to = next((a.i for a in node.attribute if a.name == "to"), None)
        if (node.op_type != "Cast" or to is None or inputs.get(node.input[0]) != to
                or node.output[0] in outputs):
            continue
        for other in proto.graph.node:
            for i, name in enumerate(other.input):
                if name == node.output[0]:
                    other.input[i] = node.input[0]
        proto.graph.node.remove(node)
