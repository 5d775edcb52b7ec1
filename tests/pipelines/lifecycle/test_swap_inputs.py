"""A hot swap between versions fed by model.inputs needs the same input signature."""

from __future__ import annotations

import pytest
from onnx import TensorProto, helper

from streaminfer.errors import ConfigError
from streaminfer.operators.inputs import InputBinding
from streaminfer.operators.model_runner import OnnxModel
from streaminfer.pipelines.lifecycle.swap_rule import check_same_input


def _model(kind: int) -> bytes:
    graph = helper.make_graph(
        [helper.make_node("Identity", ["code"], ["y"])], "one",
        [helper.make_tensor_value_info("code", kind, ["n", 1])],
        [helper.make_tensor_value_info("y", kind, ["n", 1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def test_a_version_with_other_input_types_is_refused() -> None:
    inputs = {"code": InputBinding(field="code")}
    strings = OnnxModel(_model(TensorProto.STRING), name="m", version="1", inputs=inputs)
    again = OnnxModel(_model(TensorProto.STRING), name="m", version="2", inputs=inputs)
    ints = OnnxModel(_model(TensorProto.INT64), name="m", version="3", inputs=inputs)
    check_same_input("m", again.info, strings.info)
    with pytest.raises(ConfigError, match=r"version 3 takes inputs code \(int64\), version 1 "
                                          r"inputs code \(string\)"):
        check_same_input("m", ints.info, strings.info)
