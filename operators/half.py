"""fp16 conversion for GPUs (onnxconverter-common): weights and arithmetic in float16,
inputs and outputs kept float32 so a pipeline feeds the model as before."""

from __future__ import annotations

import warnings
from typing import Any

from streaminfer.errors import ModelError

FLOAT, FLOAT16 = 1, 10  # onnx.TensorProto element types


def to_fp16(model: bytes) -> bytes:
    """The model in float16, checked by ``onnx.checker`` (raises :class:`ModelError` if the
    converted graph is invalid)."""
    import onnx
    from onnxconverter_common import float16

    proto = onnx.load_model_from_string(model)
    _drop_noop_input_casts(proto)
    with warnings.catch_warnings():  # one warning per weight too small for float16
        warnings.simplefilter("ignore", UserWarning)
        converted = float16.convert_float_to_float16(proto, keep_io_types=True)
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
