"""FeedBuilder (model.inputs): each event's values checked per element type, a batch stacked
into the feed ONNX Runtime takes; and OnnxModel running a model with several typed inputs."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from onnx import TensorProto, helper

from streaminfer.errors import ModelError
from streaminfer.operators.inputs import (
    FeedBuilder,
    InputBinding,
    InputSignature,
    concat_feeds,
    feed_rows,
    signature_of,
    take_rows,
)
from streaminfer.operators.model_runner import OnnxModel
from streaminfer.operators.records import RecordError


def _one(kind: Any, shape: tuple[Any, ...] = (None, 1), **binding: Any) -> FeedBuilder:
    binding.setdefault("field", "v")
    return FeedBuilder([InputSignature("x", kind, shape)], {"x": InputBinding(**binding)})


def _refusal(builder: FeedBuilder, event: dict[str, Any]) -> RecordError:
    with pytest.raises(RecordError) as info:
        builder.values(event)
    return info.value


def test_an_int64_input_refuses_a_fraction_and_takes_whole_numbers() -> None:
    fb = _one("int64")
    error = _refusal(fb, {"v": 1.5})
    assert (error.error_type, error.field, error.stage) == ("wrong_input_type", "v", "validate")
    assert "field 'v' (input 'x') is float 1.5, not a whole number (int64)" in error.message
    feed, refused = fb.matrix([fb.values({"v": 2}), fb.values({"v": 3.0})])
    assert feed["x"].dtype == np.int64 and feed["x"].tolist() == [[2], [3]] and not refused


def test_a_string_input_refuses_a_number_unless_cast() -> None:
    error = _refusal(_one("string"), {"v": 3})
    assert error.error_type == "wrong_input_type" and error.field == "v"
    assert "not a string; send a string, or set model.inputs.x.cast: true" in error.message
    fb = _one("string", cast=True)
    feed, _ = fb.matrix([fb.values({"v": 3}), fb.values({"v": True}), fb.values({"v": "a"})])
    assert feed["x"].dtype == object and feed["x"].ravel().tolist() == ["3", "true", "a"]


def test_a_number_input_refuses_a_string_or_bool_unless_cast() -> None:
    assert _refusal(_one("float"), {"v": "2.5"}).error_type == "wrong_input_type"
    assert _refusal(_one("float"), {"v": True}).error_type == "wrong_input_type"
    fb = _one("float", cast=True)
    assert fb.values({"v": "2.5"}) == (2.5,)
    assert _refusal(fb, {"v": "abc"}).error_type == "wrong_input_type"


@pytest.mark.parametrize("value", [{"a": 1}, [1, 2]])
def test_nested_values_are_refused(value: Any) -> None:
    error = _refusal(_one("string", cast=True), {"v": value})
    assert "nested values are refused" in error.message


def test_a_missing_value_is_refused_or_given_its_default() -> None:
    for event, how in (({}, "missing"), ({"v": None}, "null")):
        error = _refusal(_one("string"), event)
        assert error.error_type == "missing_feature" and error.field == "v"
        assert f"field 'v' (input 'x') is {how}; send it, or set model.inputs.x.default" \
            in error.message
    assert _one("string", default="unknown").values({}) == ("unknown",)


def test_a_default_that_does_not_fit_the_input_is_a_model_error() -> None:
    with pytest.raises(ModelError, match=r"model.inputs.x.default 1.5 does not fit"):
        _one("int32", default=1.5)


def test_integer_ranges_and_bools() -> None:
    assert "in [0, 255]" in _refusal(_one("uint8"), {"v": 256}).message
    assert _refusal(_one("bool"), {"v": 1}).error_type == "wrong_input_type"
    assert _one("bool", cast=True).values({"v": 1}) == (True,)
    fb = _one("bool")
    feed, _ = fb.matrix([fb.values({"v": False})])
    assert feed["x"].dtype == np.bool_


def test_a_value_beyond_the_float_type_is_refused_after_the_cast() -> None:
    fb = _one("float")
    feed, refused = fb.matrix([fb.values({"v": 1.0}), fb.values({"v": 1e300}),
                               fb.values({"v": 10**400})])
    assert feed["x"].tolist() == [[1.0]]
    assert sorted(refused) == [1, 2]
    assert refused[1].error_type == "non_finite_feature" and refused[1].field == "v"


def test_a_rank_one_input_gets_one_value_a_row() -> None:
    fb = _one("int64", shape=(None,))
    feed, _ = fb.matrix([fb.values({"v": 4})])
    assert feed["x"].shape == (1,)


def test_fields_form_a_row_and_an_array_field_is_checked_against_the_width() -> None:
    fb = _one("double", shape=(None, 2), field=None, fields=("a", "b"))
    feed, _ = fb.matrix([fb.values({"a": 1, "b": 2.5})])
    assert feed["x"].tolist() == [[1.0, 2.5]] and feed["x"].dtype == np.float64
    fixed = _one("float", shape=(None, 3), field=None, array_field="arr")
    error = _refusal(fixed, {"arr": [1, 2]})
    assert error.error_type == "wrong_feature_count" and "has 2 values, the model takes 3" \
        in error.message
    assert _refusal(fixed, {"arr": "1,2,3"}).message.endswith("not an array")
    assert _refusal(fixed, {"arr": [1, "2", 3]}).field == "arr"


def test_a_dynamic_array_keeps_its_batch_length_and_refuses_others() -> None:
    fb = _one("int64", shape=(None, None), field=None, array_field="ids")
    rows = [fb.values({"ids": ids}) for ids in ([1, 2], [3], [4, 5])]
    feed, refused = fb.matrix(rows)
    assert feed["x"].tolist() == [[1, 2], [4, 5]]
    assert list(refused) == [1] and "the others in its batch have 2" in refused[1].message


def test_the_mapping_must_fit_the_signature() -> None:
    sig = [InputSignature("a", "float", (None, 1)), InputSignature("b", "string", (None, 1))]
    with pytest.raises(ModelError, match=r"input b is not mapped to an event field"):
        FeedBuilder(sig, {"a": InputBinding(field="a")})
    with pytest.raises(ModelError, match=r"has no input c \(model.inputs\); it has a, b"):
        FeedBuilder(sig, {"a": InputBinding(field="a"), "b": InputBinding(field="b"),
                          "c": InputBinding(field="c")})
    with pytest.raises(ModelError, match=r"takes 3 values a row, not one field"):
        FeedBuilder([InputSignature("a", "float", (None, 3))], {"a": InputBinding(field="a")})
    with pytest.raises(ModelError, match=r"rank 1 or 2"):
        FeedBuilder([InputSignature("a", "float", (None, 2, 2))],
                    {"a": InputBinding(array_field="a")})


def test_signatures_name_unsupported_types() -> None:
    assert signature_of("a", "tensor(int8)", ["batch", 4], "m") == \
        InputSignature("a", "int8", (None, 4))
    with pytest.raises(ModelError, match=r"input a is tensor\(complex64\); supported"):
        signature_of("a", "tensor(complex64)", [1], "m")


def test_feeds_split_and_join_by_rows() -> None:
    feed = {"a": np.arange(4).reshape(4, 1), "b": np.array(list("wxyz"), dtype=object)}
    part = take_rows(feed, np.array([True, False, True, False]))
    assert feed_rows(part) == 2
    joined = concat_feeds([part, take_rows(feed, slice(3, 4))])
    assert isinstance(joined, dict) and joined["b"].tolist() == ["w", "y", "z"]


def _mixed_model() -> bytes:
    """Inputs: a string [n, 1], a float [n, 1], int64 [n, 2]; outputs: the string
    unchanged and the float plus the ints' sum, each computed by ONNX Runtime."""
    inputs = [helper.make_tensor_value_info("country", TensorProto.STRING, ["n", 1]),
              helper.make_tensor_value_info("amount", TensorProto.FLOAT, ["n", 1]),
              helper.make_tensor_value_info("codes", TensorProto.INT64, ["n", 2])]
    outputs = [helper.make_tensor_value_info("echo", TensorProto.STRING, ["n", 1]),
               helper.make_tensor_value_info("total", TensorProto.FLOAT, ["n", 1])]
    nodes = [helper.make_node("Identity", ["country"], ["echo"]),
             helper.make_node("Cast", ["codes"], ["codes_f"], to=TensorProto.FLOAT),
             helper.make_node("ReduceSum", ["codes_f", "axes"], ["sum"], keepdims=1),
             helper.make_node("Add", ["amount", "sum"], ["total"])]
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [1])
    graph = helper.make_graph(nodes, "mixed", inputs, outputs, initializer=[axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def test_a_model_with_several_typed_inputs_runs_from_events() -> None:
    bindings = {"country": InputBinding(field="country"),
                "amount": InputBinding(field="amount", default=0.0),
                "codes": InputBinding(fields=("c1", "c2"))}
    model = OnnxModel(_mixed_model(), name="mixed", inputs=bindings)
    assert [s.element_type for s in model.info.inputs] == ["string", "float", "int64"]
    fb = model.info.feed_builder()
    assert fb is not None
    events = [{"country": "FR", "amount": 2.5, "c1": 1, "c2": 2},
              {"country": "DE", "c1": 10, "c2": 20}]
    feed, refused = fb.matrix([fb.values(e) for e in events])
    assert not refused
    rows, failed = model.predict_each(feed)
    assert not failed
    assert rows == [{"echo": "FR", "total": 5.5}, {"echo": "DE", "total": 30.0}]


def test_a_multi_input_model_without_a_mapping_says_how_to_map_it() -> None:
    with pytest.raises(ModelError, match=r"has 3 inputs"):
        OnnxModel(_mixed_model(), name="mixed")
    with pytest.raises(ModelError, match=r"input codes is not mapped"):
        OnnxModel(_mixed_model(), name="mixed",
                  inputs={"country": InputBinding(field="c"), "amount": InputBinding(field="a")})


def test_cast_reads_decimal_numbers_only() -> None:
    """Found by tests/operators/test_inputs_fuzz.py: ``int()`` and ``float()`` also read
    "1_000", other scripts' digits and "nan"; an int input refused "3.0"."""
    ints, floats = _one("int64", cast=True), _one("float", cast=True)
    assert [ints.values({"v": t})[0] for t in ("3.0", "1e3", " +7 ", "007")] == [3, 1000, 7, 7]
    assert [floats.values({"v": t})[0] for t in (" 2.5 ", ".5", "5.", "-1E-2")] == [
        2.5, 0.5, 5.0, -0.01]
    for text in ("1_000", "\u0661\u0662", "nan", "Infinity", "0x10", "", "1e", "3.5"):
        builder = ints if text == "3.5" else floats
        error = _refusal(builder, {"v": text})
        assert (error.error_type, error.field) == ("wrong_input_type", "v"), text


def test_a_null_inside_an_array_is_refused_even_with_cast() -> None:
    """Found while writing the fuzz tests: a string input with cast turned it into "None"."""
    fb = _one("string", (None, 2), field=None, array_field="v", cast=True)
    error = _refusal(fb, {"v": ["a", None]})
    assert (error.error_type, error.field) == ("wrong_input_type", "v")
    assert "'v[1]' (input 'x') is null, not a string" in error.message


def test_an_empty_array_is_refused() -> None:
    """Found by the fuzz tests: [] passed, as a [n, 0] tensor when its whole batch had them."""
    fb = _one("float", (None, None), field=None, array_field="v")
    error = _refusal(fb, {"v": []})
    assert (error.error_type, error.field) == ("wrong_feature_count", "v")
    assert error.message == "'v' (input 'x') is an empty array"


def test_an_int_too_long_to_write_is_refused_with_a_reason() -> None:
    """An int of more digits than Python writes (json.loads reads up to 4,300) raised
    ValueError while the refusal was written."""
    huge = 10**5000
    assert "is int of 16610 bits, not a whole number" in _refusal(_one("int64"),
                                                                 {"v": huge}).message
    assert "not a string" in _refusal(_one("string", cast=True), {"v": huge}).message


def test_a_string_with_a_lone_surrogate_is_refused() -> None:
    """JSON may escape half a character ("\\ud800"); Python's json reads it, and ONNX
    Runtime raised UnicodeEncodeError on the micro-batch that held it."""
    event = json.loads(b'{"v": "refund \\ud800 please"}')
    error = _refusal(_one("string"), event)
    assert (error.error_type, error.field) == ("wrong_input_type", "v")
    assert "lone surrogate" in error.message
    assert _one("string").values({"v": "caf\u00e9 \U0001f64f"}) == ("caf\u00e9 \U0001f64f",)
