"""The online pipeline end to end: real broker, real Ray, real ONNX Runtime sessions."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from streaminfer.operators.model_runner import OnnxModel
from streaminfer.waiting import wait_until

pytestmark = pytest.mark.integration


def _events(dataset, count: int, array_field: bool) -> tuple[list[bytes], list[bytes], np.ndarray]:
    rows = dataset.X[np.arange(count) % len(dataset.X)]
    keys, values = [], []
    for i, row in enumerate(rows):
        event = {"id": f"e{i}"}
        if array_field:
            event["x"] = row.tolist()
        else:
            event.update(zip(dataset.features, row.tolist(), strict=True))
        keys.append(f"e{i}".encode())
        values.append(orjson.dumps(event))
    return keys, values, rows


@pytest.mark.parametrize("model", ["breast_cancer", "diabetes", "wine_mlp"])
def test_every_event_gets_exactly_one_prediction_equal_to_offline(
    model, pipeline_factory, dataset_factory, model_factory, produce, read_topic
):
    run = pipeline_factory(model=model, partitions=3)
    count = 600
    keys, values, rows = _events(dataset_factory(model), count, model != "breast_cancer")
    produce(run.source_topic, values, keys)

    records = read_topic(run.predictions_topic, count)
    predictions = [orjson.loads(r.value) for r in records]
    assert sorted(p["id"] for p in predictions) == sorted(f"e{i}" for i in range(count))
    assert all(r.key == p["id"].encode() for r, p in zip(records, predictions, strict=True))

    offline = OnnxModel.load(model_factory(model)).predict_rows(rows.astype(np.float32))
    by_id = {p["id"]: p for p in predictions}
    for i, expected in enumerate(offline):
        got = by_id[f"e{i}"]
        for field, value in expected.items():
            np.testing.assert_allclose(got[field], value, rtol=1e-6, err_msg=field)
        assert got["source"]["topic"] == run.source_topic
        assert got["latency_ms"] >= 0 and got["model_version"]
    # A worker counts a batch after its predictions are acknowledged and its offsets
    # committed, so a live reading may lag the topic: the final counters are exact.
    stats = run.pipeline.stop()
    assert stats.predictions == count and stats.dead_letters == 0


def _headers(record) -> dict[str, str]:
    return {k: v.decode() for k, v in record.headers}


def test_each_kind_of_bad_input_is_dead_lettered_while_good_events_are_scored(
    pipeline_factory, dataset_factory, produce, read_topic
):
    run = pipeline_factory(source={"max_record_bytes": 4096})
    features = dataset_factory("breast_cancer").features
    good = dict(zip(features, dataset_factory("breast_cancer").X[0].tolist(), strict=True))

    def event(**changes) -> bytes:
        body = {**good, **changes}
        return orjson.dumps({k: v for k, v in body.items() if v is not _DROP})

    bad = {
        "invalid_json": b'{"id": "b1", "mean_radius": ',
        "not_an_object": b'["b2"]',
        "missing_feature": event(id="b3", mean_radius=_DROP),
        "non_numeric_feature": event(id="b4", mean_texture="high"),
        "non_finite_feature": event(id="b5").replace(b'"mean_area":', b'"mean_area":NaN,"x":'),
        "oversized_record": event(id="b6", padding="x" * 5000),
        "empty_value": None,
    }
    overflow = event(id="b7", worst_area=1e39)  # finite in JSON, infinite as float32
    values, keys = [], []
    for i, (kind, value) in enumerate(bad.items()):
        values += [event(id=f"g{i}"), value]
        keys += [f"g{i}".encode(), kind.encode()]
    values.append(overflow)
    keys.append(b"non_finite_feature_f32")
    produce(run.source_topic, values, keys, partition=0)

    letters = read_topic(run.dead_letter_topic, len(bad) + 1)
    predictions = read_topic(run.predictions_topic, len(bad))
    assert sorted(orjson.loads(p.value)["id"] for p in predictions) == sorted(
        f"g{i}" for i in range(len(bad))
    )
    assert len(letters) == len(bad) + 1
    sent = dict(zip(keys, values, strict=True))
    for letter in letters:
        headers = _headers(letter)
        expected_kind = letter.key.decode().removesuffix("_f32")
        assert headers["error.type"] == expected_kind
        assert headers["error.stage"] == ("decode" if expected_kind in (
            "invalid_json", "not_an_object", "oversized_record", "empty_value") else "validate")
        assert headers["error.message"]
        assert headers["source.topic"] == run.source_topic
        assert headers["source.partition"] == "0"
        assert letter.value == sent[letter.key]  # the original bytes, unchanged
        assert int(headers["source.offset"]) == keys.index(letter.key)
    # A batch is counted once committed, a moment after its records are on the topics.
    expected = {kind: 1 for kind in bad} | {"non_finite_feature": 2}
    assert wait_until(lambda: run.pipeline.stats().dead_letters_by_reason == expected, 10), (
        run.pipeline.stats().dead_letters_by_reason)


_DROP = object()


@pytest.fixture
def sum_model(tmp_path):
    """A second real model over the breast-cancer features: ``total`` = the row's sum."""
    from onnx import TensorProto, helper, numpy_helper

    from streaminfer.pipelines.devtools.example_models import write_model

    graph = helper.make_graph(
        [helper.make_node("ReduceSum", ["X", "axes"], ["total"], keepdims=0)], "sum",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["batch", 30])],
        [helper.make_tensor_value_info("total", TensorProto.FLOAT, ["batch"])],
        initializer=[numpy_helper.from_array(np.array([1], dtype=np.int64), "axes")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return write_model(model.SerializeToString(), tmp_path / "sum.onnx")


def test_events_are_routed_by_a_field_and_each_prediction_names_its_model(
    pipeline_factory, model_factory, sum_model, dataset_factory, produce, read_topic
):
    data = dataset_factory("breast_cancer")
    run = pipeline_factory(
        models=[{"path": str(model_factory("breast_cancer")), "name": "cancer"},
                {"path": str(sum_model), "name": "summer", "version": "v7"}],
        routing={"field": "segment", "routes": {"x": "cancer", "y": "summer"}},
    )
    segments = ["x", "y", "z"] * 40
    values = [orjson.dumps({"id": f"e{i}", "segment": seg,
                            **dict(zip(data.features, data.X[i].tolist(), strict=True))})
              for i, seg in enumerate(segments)]
    produce(run.source_topic, values, [f"e{i}".encode() for i in range(len(values))])

    predictions = {p["id"]: p for p in map(lambda r: orjson.loads(r.value),
                                           read_topic(run.predictions_topic, 80))}
    letters = read_topic(run.dead_letter_topic, 40)
    for i, seg in enumerate(segments):
        if seg == "x":
            assert predictions[f"e{i}"]["model"] == "cancer"
            assert "probabilities" in predictions[f"e{i}"]
        elif seg == "y":
            got = predictions[f"e{i}"]
            assert (got["model"], got["model_version"]) == ("summer", "v7")
            assert got["total"] == pytest.approx(float(np.float32(data.X[i]).sum()), rel=1e-5)
    assert len(predictions) == 80
    assert {_headers(r)["error.type"] for r in letters} == {"no_route"}
    assert {_headers(r)["error.field"] for r in letters} == {"segment"}
    assert sorted(r.key for r in letters) == sorted(
        f"e{i}".encode() for i, seg in enumerate(segments) if seg == "z")


def test_a_weighted_split_sends_each_event_to_the_model_its_id_picks(
    pipeline_factory, model_factory, sum_model, dataset_factory, produce, read_topic
):
    from streaminfer.operators.routing import Router

    data = dataset_factory("breast_cancer")
    weights = {"cancer": 1.0, "summer": 1.0}
    run = pipeline_factory(
        models=[{"path": str(model_factory("breast_cancer")), "name": "cancer"},
                {"path": str(sum_model), "name": "summer"}],
        routing={"weights": weights},
    )
    values = [orjson.dumps({"id": f"w{i}", **dict(zip(data.features, data.X[i].tolist(),
                                                       strict=True))}) for i in range(200)]
    produce(run.source_topic, values)
    predictions = [orjson.loads(r.value) for r in read_topic(run.predictions_topic, 200)]
    router = Router(weights=weights)
    assert len(predictions) == 200
    assert all(p["model"] == router.route({}, p["id"]) for p in predictions)
    assert {p["model"] for p in predictions} == {"cancer", "summer"}
