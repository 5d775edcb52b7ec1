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
