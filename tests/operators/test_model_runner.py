"""OnnxModel on the real example models (trained by ``model_factory``) and on small graphs
built here with the ONNX helper API for the shapes the examples do not have."""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from streaminfer.errors import ModelError
from streaminfer.operators.model_runner import (
    RESERVED_FIELDS,
    OnnxModel,
    read_model_file,
    verify_digest,
)
from streaminfer.pipelines.devtools.example_models import Dataset

ModelFactory = Callable[[str], Path]
EXAMPLES = ["breast_cancer", "diabetes", "wine_mlp"]


def _graph_model(inputs: list[onnx.ValueInfoProto], outputs: list[onnx.ValueInfoProto],
                 nodes: list[onnx.NodeProto]) -> bytes:
    graph = helper.make_graph(nodes, "tiny", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def _identity_model(elem_type: int = TensorProto.FLOAT, shape: list[object] | None = None,
                    output: str = "y") -> bytes:
    """One input ``x`` copied to one output."""
    shape = shape if shape is not None else ["batch", 3]
    return _graph_model(
        [helper.make_tensor_value_info("x", elem_type, shape)],
        [helper.make_tensor_value_info(output, elem_type, shape)],
        [helper.make_node("Identity", ["x"], [output])],
    )


def _reference(path: Path, matrix: np.ndarray) -> dict[str, np.ndarray]:
    """The model's outputs straight from ONNX Runtime, for comparison."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    outputs = session.run(names, {session.get_inputs()[0].name: matrix})
    return dict(zip(names, outputs, strict=True))


def _rows(dataset: Dataset, count: int) -> np.ndarray:
    return dataset.X[:count].astype(np.float32)


# ---------------------------------------------------------------- what is detected

@pytest.mark.parametrize("name", EXAMPLES)
def test_input_and_outputs_are_detected(name: str, model_factory: ModelFactory,
                                        dataset_factory: Callable[[str], Dataset]) -> None:
    path = model_factory(name)
    graph = onnx.load(path).graph
    model = OnnxModel.load(path, providers=["CPUExecutionProvider"])
    info = model.info
    assert info.input_name == graph.input[0].name
    assert info.input_width == len(dataset_factory(name).features)
    assert info.input_dtype is np.float32
    assert info.outputs == {o.name: o.name for o in graph.output}
    assert info.providers == ["CPUExecutionProvider"]


def test_name_version_and_digest(model_factory: ModelFactory) -> None:
    path = model_factory("breast_cancer")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    info = OnnxModel.load(path).info
    assert (info.name, info.version, info.sha256) == ("breast_cancer", digest[:12], digest)
    named = OnnxModel.load(path, name="bc", version="2024-06").info
    assert (named.name, named.version, named.sha256) == ("bc", "2024-06", digest)


def test_a_double_input_is_detected_as_float64() -> None:
    model = OnnxModel(_identity_model(TensorProto.DOUBLE, ["batch", 3]), name="tiny")
    assert model.info.input_dtype is np.float64
    assert model.info.input_width == 3
    matrix = np.array([[0.1, 1e300, -2.0]], dtype=np.float64)
    assert model.predict_rows(matrix) == [{"y": [0.1, 1e300, -2.0]}]


def test_a_symbolic_width_is_none() -> None:
    model = OnnxModel(_identity_model(shape=["batch", "features"]), name="tiny")
    assert model.info.input_width is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_identity_model(TensorProto.INT64), "input x is tensor(int64); supported"),
        (_identity_model(shape=["batch", 2, 3]), "expected 2-D [batch, features]"),
    ],
)
def test_an_unsupported_input_is_a_model_error(data: bytes, message: str) -> None:
    with pytest.raises(ModelError, match=re.escape(message)):
        OnnxModel(data, name="tiny")


def _two_inputs() -> bytes:
    return _graph_model(
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, ["batch", 2]),
         helper.make_tensor_value_info("b", TensorProto.FLOAT, ["batch", 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2])],
        [helper.make_node("Add", ["a", "b"], ["y"])],
    )


def test_several_inputs_need_input_name() -> None:
    with pytest.raises(ModelError) as info:
        OnnxModel(_two_inputs(), name="two")
    assert str(info.value) == "model two has 2 inputs (a, b); set model.input_name"
    with pytest.raises(ModelError, match="model two: only single-input models are supported"):
        OnnxModel(_two_inputs(), name="two", input_name="a")


def test_an_input_name_the_model_lacks() -> None:
    with pytest.raises(ModelError) as info:
        OnnxModel(_identity_model(), name="tiny", input_name="features")
    assert str(info.value) == "model tiny has no input 'features' (model.input_name); it has x"
    assert OnnxModel(_identity_model(), name="tiny", input_name="x").info.input_name == "x"


# ---------------------------------------------------------------- output mapping

def test_outputs_can_be_selected_and_renamed(model_factory: ModelFactory,
                                             dataset_factory: Callable[[str], Dataset]) -> None:
    path = model_factory("breast_cancer")
    model = OnnxModel.load(path, outputs={"label": "is_malignant"})
    assert model.info.outputs == {"label": "is_malignant"}
    matrix = _rows(dataset_factory("breast_cancer"), 20)
    rows = model.predict_rows(matrix)
    expected = _reference(path, matrix)["label"].tolist()
    assert rows == [{"is_malignant": label} for label in expected]


@pytest.mark.parametrize("field", sorted(RESERVED_FIELDS))
def test_an_output_renamed_to_a_reserved_field_is_a_model_error(
    field: str, model_factory: ModelFactory
) -> None:
    with pytest.raises(ModelError) as info:
        OnnxModel.load(model_factory("breast_cancer"), outputs={"label": field})
    message = str(info.value)
    assert f"output field {field} clashes with a prediction field" in message
    assert "model.outputs" in message and "\n" not in message


def test_an_output_named_like_a_reserved_field_must_be_renamed() -> None:
    data = _identity_model(output="source")
    with pytest.raises(ModelError, match="output field source clashes"):
        OnnxModel(data, name="tiny")
    renamed = OnnxModel(data, name="tiny", outputs={"source": "score"})
    assert renamed.info.outputs == {"source": "score"}


def test_an_unknown_output_is_a_model_error(model_factory: ModelFactory) -> None:
    with pytest.raises(ModelError) as info:
        OnnxModel.load(model_factory("breast_cancer"), outputs={"score": "score", "label": "l"})
    assert str(info.value) == (
        "model breast_cancer has no output score (model.outputs); it has label, probabilities"
    )


# ---------------------------------------------------------------- files and digests

def _copy(model_factory: ModelFactory, tmp_path: Path, name: str = "diabetes") -> Path:
    """A private copy (with its .sha256 file) that a test may tamper with."""
    source = model_factory(name)
    target = tmp_path / source.name
    shutil.copy(source, target)
    shutil.copy(f"{source}.sha256", f"{target}.sha256")
    return target


def test_a_matching_explicit_digest_loads_in_any_case(model_factory: ModelFactory) -> None:
    path = model_factory("diabetes")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert OnnxModel.load(path, expected_sha256=digest.upper()).info.sha256 == digest


def test_an_explicit_digest_mismatch_is_a_model_error(model_factory: ModelFactory) -> None:
    path = model_factory("diabetes")
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    wrong = "ab" * 32
    with pytest.raises(ModelError) as info:
        OnnxModel.load(path, expected_sha256=wrong)
    message = str(info.value)
    assert str(path) in message
    assert f"has sha256 {actual}, but {wrong} is expected" in message
    with pytest.raises(ModelError, match="refusing to load it"):
        OnnxModel(path.read_bytes(), name="diabetes", expected_sha256=wrong)


def test_the_sidecar_digest_is_checked(model_factory: ModelFactory, tmp_path: Path) -> None:
    path = _copy(model_factory, tmp_path)
    data = path.read_bytes()
    assert read_model_file(path) == data  # the sidecar written with the model matches

    wrong = "0" * 64
    Path(f"{path}.sha256").write_text(f"{wrong}  {path.name}\n")
    with pytest.raises(ModelError) as info:
        OnnxModel.load(path)
    assert f"but {wrong} is expected" in str(info.value)
    assert ".sha256 file beside the model" in str(info.value)


def test_an_explicit_digest_takes_precedence_over_the_sidecar(model_factory: ModelFactory,
                                                              tmp_path: Path) -> None:
    path = _copy(model_factory, tmp_path)
    Path(f"{path}.sha256").write_text("0" * 64 + "\n")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert read_model_file(path, digest) == path.read_bytes()


def test_a_model_without_a_sidecar_loads_unchecked(model_factory: ModelFactory,
                                                   tmp_path: Path) -> None:
    path = _copy(model_factory, tmp_path)
    Path(f"{path}.sha256").unlink()
    assert read_model_file(path) == model_factory("diabetes").read_bytes()


def test_verify_digest_without_an_expectation_accepts_anything() -> None:
    verify_digest(b"anything", None, "x")
    with pytest.raises(ModelError):
        verify_digest(b"anything", hashlib.sha256(b"something else").hexdigest(), "x")


def test_a_missing_file_is_a_model_error_naming_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "model.onnx"
    with pytest.raises(ModelError) as info:
        OnnxModel.load(path)
    assert f"model file {path} not found (model.path)" in str(info.value)


def test_a_directory_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=f"model file {tmp_path} cannot be read"):
        read_model_file(tmp_path)


@pytest.mark.parametrize("kind", ["garbage", "truncated", "empty"])
def test_corrupt_bytes_are_a_model_error(kind: str, model_factory: ModelFactory,
                                         tmp_path: Path) -> None:
    good = model_factory("breast_cancer").read_bytes()
    data = {"garbage": b"this is not an onnx model", "truncated": good[: len(good) // 2],
            "empty": b""}[kind]
    path = tmp_path / "broken.onnx"
    path.write_bytes(data)
    with pytest.raises(ModelError) as info:
        OnnxModel.load(path)
    assert str(info.value).startswith("model broken cannot be loaded by ONNX Runtime: ")


# ---------------------------------------------------------------- running

def test_rows_squeezes_a_single_column_output_to_scalars(
    model_factory: ModelFactory, dataset_factory: Callable[[str], Dataset]
) -> None:
    path = model_factory("diabetes")
    model = OnnxModel.load(path)
    matrix = _rows(dataset_factory("diabetes"), 25)
    raw = model.run(matrix)
    assert raw[0].shape == (25, 1)
    rows = model.rows(raw, len(matrix))
    expected = _reference(path, matrix)["variable"][:, 0].tolist()
    assert rows == [{"variable": value} for value in expected]
    assert all(type(row["variable"]) is float for row in rows)


def test_rows_renames_and_gives_plain_python_values(
    model_factory: ModelFactory, dataset_factory: Callable[[str], Dataset]
) -> None:
    path = model_factory("wine_mlp")
    model = OnnxModel.load(path, outputs={"label": "cultivar", "probabilities": "p"})
    matrix = _rows(dataset_factory("wine_mlp"), 30)
    rows = model.predict_rows(matrix)
    reference = _reference(path, matrix)
    assert [row["cultivar"] for row in rows] == reference["label"].tolist()
    assert [row["p"] for row in rows] == reference["probabilities"].tolist()
    assert all(type(row["cultivar"]) is int for row in rows)
    assert all(type(p) is float for row in rows for p in row["p"])
    assert all(set(row) == {"cultivar", "p"} for row in rows)


def test_a_classifier_labels_match_its_probabilities(
    model_factory: ModelFactory, dataset_factory: Callable[[str], Dataset]
) -> None:
    dataset = dataset_factory("breast_cancer")
    rows = OnnxModel.load(model_factory("breast_cancer")).predict_rows(_rows(dataset, 100))
    assert len(rows) == 100
    for row in rows:
        assert row["label"] == int(np.argmax(row["probabilities"]))
        assert sum(row["probabilities"]) == pytest.approx(1.0, abs=1e-5)
    # A trained model, not a constant: it agrees with the dataset's labels on most rows.
    agreement = np.mean([row["label"] for row in rows] == dataset.y[:100])
    assert agreement > 0.9


def test_rows_refuses_outputs_with_the_wrong_row_count(
    model_factory: ModelFactory, dataset_factory: Callable[[str], Dataset]
) -> None:
    model = OnnxModel.load(model_factory("diabetes"))
    raw = model.run(_rows(dataset_factory("diabetes"), 4))
    with pytest.raises(ValueError, match=r"output has shape \(4, 1\), expected 5 rows"):
        model.rows(raw, 5)
