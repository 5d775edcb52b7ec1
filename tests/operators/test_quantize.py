"""int8 quantization, fp16 and graph optimization on real example models (trained here from
scikit-learn's bundled data): each variant is a valid model that ONNX Runtime loads and that
predicts close to the original."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from streaminfer.operators.graph_optimize import LEVELS, optimize_graph
from streaminfer.operators.half import to_fp16
from streaminfer.operators.onnx_graph import NotApplicable
from streaminfer.operators.quantize import quantize_dynamic_int8, quantize_static_int8
from streaminfer.pipelines.devtools.example_models import Dataset


def outputs(model: bytes, X: np.ndarray) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {session.get_inputs()[0].name: X}), strict=True))


@pytest.fixture(scope="module")
def wine(model_factory: Callable[[str], Path],
         dataset_factory: Callable[[str], Dataset]) -> tuple[bytes, np.ndarray]:
    return model_factory("wine_mlp").read_bytes(), dataset_factory("wine_mlp").X.astype(np.float32)


@pytest.mark.parametrize("make", [
    lambda m, X: quantize_dynamic_int8(m),
    lambda m, X: quantize_dynamic_int8(m, per_channel=True),
    lambda m, X: quantize_static_int8(m, X[:64], input_name="features"),
    lambda m, X: quantize_static_int8(m, X[:64], input_name="features", per_channel=True),
    lambda m, X: quantize_static_int8(m, X[:64], input_name="features", fmt="qoperator"),
], ids=["dynamic", "dynamic-per-channel", "static-qdq", "static-qdq-per-channel",
        "static-qoperator"])
def test_int8_variants_load_hold_int8_weights_and_predict_close(
    wine: tuple[bytes, np.ndarray], make: Callable[[bytes, np.ndarray], bytes]
) -> None:
    model, X = wine
    quantized = make(model, X)
    onnx.checker.check_model(onnx.load_model_from_string(quantized))
    int8 = [i for i in onnx.load_model_from_string(quantized).graph.initializer
            if i.data_type == onnx.TensorProto.INT8]
    assert int8, "no int8 weights"
    before, after = outputs(model, X), outputs(quantized, X)
    assert np.abs(before["probabilities"] - after["probabilities"]).max() < 0.1
    assert np.mean(before["label"] == after["label"]) >= 0.95


def test_static_int8_prepared_prints_no_onnx_runtime_warning(
    model_factory: Callable[[str], Path], dataset_factory: Callable[[str], Dataset],
    capfd: pytest.CaptureFixture[str],
) -> None:
    """The calibration session ONNX Runtime's quantization opens on the preprocessed digits
    MLP warned, coloured, on stderr of an initializer it dropped (`streaminfer optimize`)."""
    model = model_factory("digits_mlp").read_bytes()
    X = dataset_factory("digits_mlp").X.astype(np.float32)
    name = onnx.load_model_from_string(model).graph.input[0].name
    capfd.readouterr()
    quantized = quantize_static_int8(model, X[:64], input_name=name, prepare=True)
    assert "onnxruntime" not in capfd.readouterr().err
    assert np.mean(outputs(quantized, X)["label"] == outputs(model, X)["label"]) >= 0.95


def test_fp16_is_a_valid_model_with_float32_inputs_and_outputs(
    model_factory: Callable[[str], Path], dataset_factory: Callable[[str], Dataset]
) -> None:
    model = model_factory("digits_mlp").read_bytes()
    half = to_fp16(model)
    proto = onnx.load_model_from_string(half)
    onnx.checker.check_model(proto)
    assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in proto.graph.initializer)
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    X = dataset_factory("digits_mlp").X[:200].astype(np.float32)
    before, after = outputs(model, X), outputs(half, X)  # ONNX Runtime's CPU runs fp16 too
    assert after["probabilities"].dtype == np.float32
    assert np.abs(before["probabilities"] - after["probabilities"]).max() < 0.01


def test_fp16_of_a_plain_mlp_whose_graph_starts_with_a_cast(
    dataset_factory: Callable[[str], Dataset],
) -> None:
    """No Scaler in front: skl2onnx starts the graph with ``Cast(X)``, which the converter
    used to drop, leaving a MatMul of float32 and float16 that ONNX Runtime cannot load."""
    from sklearn.neural_network import MLPClassifier

    from streaminfer.pipelines.lifecycle.trainers import export_onnx

    data = dataset_factory("wine_mlp")
    X = data.X.astype(np.float32)
    model = export_onnx(MLPClassifier(hidden_layer_sizes=(16,), max_iter=500, random_state=0)
                        .fit(X, data.y), X)
    assert onnx.load_model_from_string(model).graph.node[0].op_type == "Cast"
    half = to_fp16(model)
    before, after = outputs(model, X), outputs(half, X)
    assert after["probabilities"].dtype == np.float32
    assert np.abs(before["probabilities"] - after["probabilities"]).max() < 0.01


@pytest.mark.parametrize("level", LEVELS)
def test_offline_graph_optimization_keeps_the_outputs(
    level: str, wine: tuple[bytes, np.ndarray]
) -> None:
    model, X = wine
    optimized = optimize_graph(model, level)
    before, after = outputs(model, X), outputs(optimized, X)
    np.testing.assert_allclose(after["probabilities"], before["probabilities"], atol=1e-5)


def test_int8_does_not_apply_to_a_model_without_dense_weights(
    model_factory: Callable[[str], Path]
) -> None:
    linear = model_factory("breast_cancer").read_bytes()  # ai.onnx.ml Scaler + LinearClassifier
    with pytest.raises(NotApplicable, match="no MatMul/Gemm"):
        quantize_dynamic_int8(linear)
    with pytest.raises(NotApplicable):
        quantize_static_int8(linear, np.zeros((4, 30), np.float32), input_name="X")


def test_unknown_settings_are_refused(wine: tuple[bytes, np.ndarray]) -> None:
    model, X = wine
    with pytest.raises(ValueError, match="format"):
        quantize_static_int8(model, X, input_name="features", fmt="int4")
    with pytest.raises(ValueError, match="level"):
        optimize_graph(model, "max")


def test_static_int8_quantizes_a_cnns_convolutions_per_channel_from_a_feed() -> None:
    from streaminfer.pipelines.devtools.example_cnn import Cnn, cnn_onnx

    rng = np.random.default_rng(5)
    model = cnn_onnx(Cnn.new(rng, (3, 8, 16), 2), 16)
    x = rng.normal(0, 1, (64, 3, 16, 16)).astype(np.float32)
    quantized = quantize_static_int8(model, {"image": x}, per_channel=True)
    proto = onnx.load_model_from_string(quantized)
    conv_inputs = [i for n in proto.graph.node if n.op_type == "Conv" for i in n.input[:2]]
    made = {o: n for n in proto.graph.node for o in n.output}
    assert all(made[i].op_type == "DequantizeLinear" for i in conv_inputs)  # QDQ around Conv
    scales = {init.name: init for init in proto.graph.initializer}
    weight_scale = scales[made[conv_inputs[1]].input[1]]
    assert list(weight_scale.dims) == [8]  # one scale per output channel
    np.testing.assert_allclose(outputs(quantized, x)["probabilities"],
                               outputs(model, x)["probabilities"], atol=0.05)


def test_fp16_does_not_apply_where_the_weights_live_in_operators_without_float16_kernels(
    model_factory: Callable[[str], Path],
) -> None:
    linear = model_factory("breast_cancer").read_bytes()  # Scaler + LinearClassifier
    with pytest.raises(NotApplicable, match="122 of the model's 122 float weights are in "
                                            "LinearClassifier, Scaler, which have no float16"):
        to_fp16(linear)
