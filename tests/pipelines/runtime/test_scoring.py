"""BatchScorer on a real model: good records scored, every bad one dead-lettered with a reason."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from streaminfer.errors import ConfigError
from streaminfer.operators.codecs import JsonCodec
from streaminfer.operators.dead_letter import DeadLetter
from streaminfer.operators.model_runner import OnnxModel
from streaminfer.operators.records import SourceRecord
from streaminfer.pipelines.devtools.example_models import Dataset
from streaminfer.pipelines.runtime.model_backends import LocalModel, ModelBackend
from streaminfer.pipelines.runtime.scoring import BatchScorer, ScoredBatch
from streaminfer.pipelines.spec.schema import SourceSpec

TOPIC = "events"
T0 = 1_700_000_000_000


@pytest.fixture(scope="module")
def cancer(dataset_factory: Callable[[str], Dataset]) -> Dataset:
    return dataset_factory("breast_cancer")


@pytest.fixture(scope="module")
def model(model_factory: Callable[[str], Path]) -> OnnxModel:
    return OnnxModel.load(model_factory("breast_cancer"), name="bc", version="v1")


def _local(model: OnnxModel) -> dict[str, ModelBackend]:
    return {model.info.name: LocalModel(model)}


def _source(features: list[str] | None = None, **fields: Any) -> SourceSpec:
    data: dict[str, Any] = {"topics": [TOPIC], "group_id": "g", "id_field": "id"}
    if features is not None:
        data["features"] = features
    data.update(fields)
    return SourceSpec.model_validate(data)


def _record(offset: int, value: bytes | None, key: bytes | None = None,
            timestamp: int = T0) -> SourceRecord:
    return SourceRecord(TOPIC, 1, offset, timestamp, key, value)


def _event(dataset: Dataset, row: int, **changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"id": f"e{row}"}
    event.update(zip(dataset.features, dataset.X[row].tolist(), strict=True))
    event.update(changes)
    return event


def _headers(letter: DeadLetter) -> dict[str, str]:
    return {name: value.decode() for name, value in letter.headers}


def test_good_records_are_scored_in_order_like_the_model_offline(
    model: OnnxModel, cancer: Dataset
) -> None:
    source = _source(cancer.features, event_time_field="at")
    scorer = BatchScorer(_local(model), source, JsonCodec())
    rows = list(range(40))
    records = [_record(100 + i, orjson.dumps(_event(cancer, i, at=T0 - i)), f"k{i}".encode(),
                       timestamp=T0 + i) for i in rows]
    before_ms = int(time.time() * 1000)
    scored = scorer.score(records)
    after_ms = int(time.time() * 1000)

    assert scored.dead_letters == []
    assert [key for key, _ in scored.predictions] == [f"k{i}".encode() for i in rows]
    offline = model.predict_rows(cancer.X[rows].astype(np.float32))
    for i, (_, value) in enumerate(scored.predictions):
        prediction = orjson.loads(value)
        assert prediction["id"] == f"e{i}"
        assert prediction["model"] == "bc" and prediction["model_version"] == "v1"
        assert prediction["label"] == offline[i]["label"]
        np.testing.assert_allclose(prediction["probabilities"], offline[i]["probabilities"],
                                   rtol=1e-6)
        assert prediction["source"] == {"topic": TOPIC, "partition": 1, "offset": 100 + i}
        assert prediction["event_time"] == T0 - i
        assert prediction["latency_ms"] == prediction["ts"] - (T0 + i)
        assert before_ms <= prediction["ts"] <= after_ms
    assert scored.latencies_ms == [orjson.loads(v)["latency_ms"] for _, v in scored.predictions]
    assert scored.inference_s > 0
    assert scored.model_batch_failed is False


def test_an_event_without_the_id_field_gets_topic_partition_offset(
    model: OnnxModel, cancer: Dataset
) -> None:
    scorer = BatchScorer(_local(model), _source(cancer.features), JsonCodec())
    event = _event(cancer, 0)
    del event["id"]
    scored = scorer.score([_record(7, orjson.dumps(event))])
    assert orjson.loads(scored.predictions[0][1])["id"] == f"{TOPIC}/1/7"


def _bad_values(cancer: Dataset) -> dict[str, tuple[bytes | None, str]]:
    """Each kind of bad record -> (value, expected error.stage)."""
    event = _event(cancer, 1)
    missing = dict(event)
    del missing["mean_radius"]
    return {
        "invalid_json": (b'{"id": "b1", "mean_radius": ', "decode"),
        "not_an_object": (b'["b2"]', "decode"),
        "empty_value": (None, "decode"),
        "oversized_record": (orjson.dumps({**event, "padding": "x" * 5000}), "decode"),
        "missing_feature": (orjson.dumps(missing), "validate"),
        "non_numeric_feature": (orjson.dumps({**event, "mean_texture": "high"}), "validate"),
        "non_numeric_bool": (orjson.dumps({**event, "mean_texture": True}), "validate"),
        "non_numeric_null": (orjson.dumps({**event, "mean_texture": None}), "validate"),
        "non_finite_nan": (json.dumps({**event, "mean_area": float("nan")}).encode(),
                           "validate"),
        "non_finite_inf": (json.dumps({**event, "mean_area": float("-inf")}).encode(),
                           "validate"),
        "non_finite_f32": (orjson.dumps({**event, "worst_area": 1e39}), "validate"),
    }


EXPECTED_TYPE = {
    "non_numeric_bool": "non_numeric_feature", "non_numeric_null": "non_numeric_feature",
    "non_finite_nan": "non_finite_feature", "non_finite_inf": "non_finite_feature",
    "non_finite_f32": "non_finite_feature",
}


def test_each_bad_record_becomes_a_dead_letter_and_good_ones_are_still_scored(
    model: OnnxModel, cancer: Dataset
) -> None:
    source = _source(cancer.features, max_record_bytes=4096)
    scorer = BatchScorer(_local(model), source, JsonCodec())
    bad = _bad_values(cancer)
    records, sent = [], {}
    for i, (kind, (value, _)) in enumerate(bad.items()):
        good = _record(2 * i, orjson.dumps(_event(cancer, i)), f"good-{i}".encode())
        wrong = _record(2 * i + 1, value, kind.encode())
        records += [good, wrong]
        sent[kind] = wrong
    scored = scorer.score(records)

    ids = [orjson.loads(value)["id"] for _, value in scored.predictions]
    assert ids == [f"e{i}" for i in range(len(bad))]  # in input order
    assert len(scored.dead_letters) == len(bad)
    for letter in scored.dead_letters:
        kind = letter.key.decode() if letter.key else ""
        expected_type = EXPECTED_TYPE.get(kind, kind)
        headers = _headers(letter)
        assert letter.error_type == expected_type
        assert headers["error.type"] == expected_type
        assert headers["error.stage"] == bad[kind][1]
        assert headers["error.message"]
        assert letter.value == sent[kind].value  # the original bytes
        assert headers["source.topic"] == TOPIC
        assert headers["source.partition"] == "1"
        assert headers["source.offset"] == str(sent[kind].offset)
    assert scored.latencies_ms and len(scored.latencies_ms) == len(ids)


def test_the_fast_path_scores_and_refuses_as_the_general_path(
    model: OnnxModel, cancer: Dataset
) -> None:
    """One model fed by source.features decodes JSON straight to feature rows
    (operators/feature_decode.py); every prediction and dead letter is the general path's."""
    source = _source(cancer.features, event_time_field="at", max_record_bytes=4096)
    fast = BatchScorer(_local(model), source, JsonCodec(), with_features=True)
    general = BatchScorer(_local(model), source, JsonCodec(), with_features=True)
    general.fast = None
    assert fast.fast is not None
    records = []
    for i, (kind, (value, _)) in enumerate(_bad_values(cancer).items()):
        whole = _event(cancer, i, at=f"2026-12-07T0{i % 10}:00:00Z", mean_area=1000 + i)
        records += [_record(2 * i, orjson.dumps(whole), f"good-{i}".encode()),
                    _record(2 * i + 1, value, kind.encode())]
    records.append(_record(99, orjson.dumps({**_event(cancer, 3), "note": "café"})))

    def seen(scored: ScoredBatch) -> tuple[list[Any], list[Any]]:
        kept = [{k: v for k, v in orjson.loads(value).items() if k not in ("ts", "latency_ms")}
                for _, value in scored.predictions]
        return kept, [(d.key, d.value, d.headers) for d in scored.dead_letters]

    predictions, letters = seen(fast.score(records))
    assert (predictions, letters) == seen(general.score(records))
    assert len(predictions) == len(_bad_values(cancer)) + 1
    assert predictions[0]["features"]["mean_area"] == 1000  # an int stays an int
    assert len(letters) == len(_bad_values(cancer))


def test_the_dead_letter_message_names_the_bad_feature(model: OnnxModel, cancer: Dataset) -> None:
    scorer = BatchScorer(_local(model), _source(cancer.features), JsonCodec())
    bad = _bad_values(cancer)
    letters = scorer.score([
        _record(0, bad["missing_feature"][0]),
        _record(1, bad["non_numeric_feature"][0]),
        _record(2, bad["non_finite_f32"][0]),
        _record(3, bad["non_finite_nan"][0]),
    ]).dead_letters
    messages = {_headers(letter)["source.offset"]: _headers(letter)["error.message"]
                for letter in letters}
    assert messages == {
        "0": "feature 'mean_radius' is missing",
        "1": "feature 'mean_texture' is str 'high', not a number",
        "2": "feature 'worst_area' is 1e+39, which is not finite as float32",
        "3": "feature 'mean_area' is nan, which is not finite as float32",
    }


def test_the_size_limit_is_inclusive(model: OnnxModel, cancer: Dataset) -> None:
    value = orjson.dumps(_event(cancer, 0))
    at_limit = BatchScorer(_local(model), _source(cancer.features, max_record_bytes=len(value)),
                           JsonCodec()).score([_record(0, value)])
    assert len(at_limit.predictions) == 1 and at_limit.dead_letters == []

    over = BatchScorer(_local(model), _source(cancer.features, max_record_bytes=len(value) - 1),
                       JsonCodec()).score([_record(0, value)])
    assert over.predictions == []
    headers = _headers(over.dead_letters[0])
    assert headers["error.type"] == "oversized_record"
    assert headers["error.message"] == (
        f"record is {len(value)} bytes, more than source.max_record_bytes ({len(value) - 1})"
    )


def test_a_batch_of_only_bad_records(model: OnnxModel, cancer: Dataset) -> None:
    scorer = BatchScorer(_local(model), _source(cancer.features), JsonCodec())
    scored = scorer.score([_record(0, b"nope"), _record(1, None, b"k"), _record(2, None)])
    assert scored.predictions == [] and scored.latencies_ms == []
    assert [d.error_type for d in scored.dead_letters] == ["invalid_json", "empty_value",
                                                          "empty_record"]
    keyless = _headers(scored.dead_letters[2])
    assert keyless["error.message"] == "empty record (no key, no value)"
    assert keyless["source.nulls"] == "value" and scored.dead_letters[2].value == b""
    assert scorer.score([]).predictions == []


@pytest.mark.parametrize("features", [["mean_radius", "mean_texture"], None])
def test_a_features_count_that_does_not_match_the_model_is_a_config_error(
    model: OnnxModel, cancer: Dataset, features: list[str] | None
) -> None:
    features = features or [*cancer.features, "extra"]
    with pytest.raises(ConfigError) as info:
        BatchScorer(_local(model), _source(features), JsonCodec())
    assert str(info.value) == (
        f"source.features lists {len(features)} fields but model bc takes 30 features"
    )


def test_an_array_field_of_the_wrong_length_is_dead_lettered(
    model_factory: Callable[[str], Path], dataset_factory: Callable[[str], Dataset]
) -> None:
    diabetes = dataset_factory("diabetes")
    model = OnnxModel.load(model_factory("diabetes"), outputs={"variable": "progression"})
    scorer = BatchScorer(_local(model), _source(features_field="x"), JsonCodec())
    scored = scorer.score([
        _record(0, orjson.dumps({"id": "p0", "x": diabetes.X[0].tolist()})),
        _record(1, orjson.dumps({"id": "p1", "x": diabetes.X[1].tolist()[:9]})),
    ])
    assert [orjson.loads(v)["id"] for _, v in scored.predictions] == ["p0"]
    expected = model.predict_rows(diabetes.X[:1].astype(np.float32))[0]["progression"]
    assert orjson.loads(scored.predictions[0][1])["progression"] == pytest.approx(expected)
    headers = _headers(scored.dead_letters[0])
    assert headers["error.type"] == "wrong_feature_count"
    assert headers["error.message"] == "'x' has 9 values, the model takes 10"


# ---------------------------------------------------------------- a model that fails at run time

@pytest.fixture(scope="module")
def gather_model() -> OnnxModel:
    """A real ONNX graph: ``score = a * table[int(poison)]`` with a one-entry table, so any
    row with ``poison`` != 0 makes the whole run fail (Gather index out of bounds)."""
    from onnx import TensorProto, helper, numpy_helper

    def const(name: str, value: Any, dtype: type) -> Any:
        return numpy_helper.from_array(np.asarray(value, dtype=dtype), name)

    nodes = [
        helper.make_node("Slice", ["X", "s0", "s1", "axis"], ["a"]),
        helper.make_node("Slice", ["X", "s1", "s2", "axis"], ["poison"]),
        helper.make_node("Cast", ["poison"], ["index"], to=TensorProto.INT64),
        helper.make_node("Gather", ["table", "index"], ["gate"]),
        helper.make_node("Mul", ["a", "gate"], ["score"]),
    ]
    graph = helper.make_graph(
        nodes, "gather",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["batch", 2])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["batch", 1])],
        initializer=[const("s0", [0], np.int64), const("s1", [1], np.int64),
                     const("s2", [2], np.int64), const("axis", [1], np.int64),
                     const("table", [1.0], np.float32)],
    )
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx_model.ir_version = 8
    return OnnxModel(onnx_model.SerializeToString(), name="gather")


def test_a_failing_batch_is_rerun_row_by_row(gather_model: OnnxModel) -> None:
    scorer = BatchScorer(_local(gather_model), _source(["a", "poison"]), JsonCodec())
    events = [{"id": f"e{i}", "a": float(i), "poison": 1 if i in (2, 5) else 0}
              for i in range(8)]
    scored = scorer.score([_record(i, orjson.dumps(e), f"e{i}".encode())
                           for i, e in enumerate(events)])
    assert scored.model_batch_failed is True
    predictions = [orjson.loads(v) for _, v in scored.predictions]
    assert [(p["id"], p["score"]) for p in predictions] == [
        (f"e{i}", float(i)) for i in range(8) if i not in (2, 5)
    ]
    assert [d.key for d in scored.dead_letters] == [b"e2", b"e5"]
    for letter in scored.dead_letters:
        headers = _headers(letter)
        assert (headers["error.type"], headers["error.stage"]) == ("model_error", "model")
        assert headers["error.message"].startswith("model run failed: ")
        assert "Gather" in headers["error.message"]


def test_a_batch_the_model_accepts_is_not_marked_failed(gather_model: OnnxModel) -> None:
    scorer = BatchScorer(_local(gather_model), _source(["a", "poison"]), JsonCodec())
    scored = scorer.score([_record(0, b'{"id": "x", "a": 2.5, "poison": 0}')])
    assert scored.model_batch_failed is False
    assert orjson.loads(scored.predictions[0][1])["score"] == 2.5
