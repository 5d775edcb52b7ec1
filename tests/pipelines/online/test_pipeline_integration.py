"""The online pipeline end to end: real broker, real Ray, real ONNX Runtime sessions."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from streaminfer.operators.model_runner import OnnxModel
from streaminfer.waiting import wait_until
from tests.fixtures.poison import keyless_tombstone, null_header_record

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


def _check_once_and_as_offline(run, model: str, records, rows: np.ndarray, model_factory,
                               others: set[str]) -> list[dict]:
    """Events ``e0``...: one prediction each, keyed by its id, equal to offline ONNX Runtime
    (beside the events ``others``, scored too)."""
    predictions = [orjson.loads(r.value) for r in records]
    assert sorted(p["id"] for p in predictions) == sorted(
        [f"e{i}" for i in range(len(rows))] + sorted(others))
    assert all(r.key == p["id"].encode() for r, p in zip(records, predictions, strict=True))

    offline = OnnxModel.load(model_factory(model)).predict_rows(rows.astype(np.float32))
    by_id = {p["id"]: p for p in predictions}
    for i, expected in enumerate(offline):
        got = by_id[f"e{i}"]
        for field, value in expected.items():
            np.testing.assert_allclose(got[field], value, rtol=1e-6, err_msg=field)
        assert got["source"]["topic"] == run.source_topic
        assert got["latency_ms"] >= 0 and got["model_version"]
    return predictions


@pytest.mark.parametrize("model", ["diabetes", "wine_mlp"])
def test_every_event_gets_exactly_one_prediction_equal_to_offline(
    model, pipeline_factory, dataset_factory, model_factory, produce, read_topic
):
    """Models fed by one array field (breast_cancer, fed by named features: below)."""
    run = pipeline_factory(model=model, partitions=3)
    count = 600
    keys, values, rows = _events(dataset_factory(model), count, True)
    produce(run.source_topic, values, keys)

    records = read_topic(run.predictions_topic, count)
    _check_once_and_as_offline(run, model, records, rows, model_factory, set())
    # A worker counts a batch after its predictions are acknowledged and its offsets
    # committed, so a live reading may lag the topic: the final counters are exact.
    stats = run.pipeline.stop()
    assert stats.predictions == count and stats.dead_letters == 0


def _headers(record) -> dict[str, str]:
    return {k: v.decode() for k, v in record.headers}


@pytest.mark.parametrize("client", ["kafka-python", "confluent"])
def test_every_event_is_predicted_once_as_offline_and_each_bad_input_is_dead_lettered(
    client, pipeline_factory, dataset_factory, model_factory, produce, read_topic, kafka_config
):
    """breast_cancer, fed by named features: each kind of bad input is dead-lettered with
    its original bytes while the good events beside it (in its micro-batches) are scored,
    and every good event gets exactly one prediction equal to offline. Among the bad ones,
    records that kafka-python cannot produce back as they are (a keyless tombstone, a null
    header value; CDC producers and librdkafka clients write both): dead letters too, and
    the workers go on scoring (before, the first crashed a worker, again and again). The
    same with either Kafka client of the workers (``kafka.client``)."""
    run = pipeline_factory(model="breast_cancer", partitions=3, kafka={"client": client},
                           source={"max_record_bytes": 4096})
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
    produce(run.source_topic, values, keys, partition=0)  # offsets 0...: their index
    keyless_tombstone(kafka_config, run.source_topic)  # offset 15
    null_header_record(kafka_config, run.source_topic, b"nh", b"not json")  # offset 16
    count = 600
    good_keys, good_values, rows = _events(dataset_factory("breast_cancer"), count, False)
    produce(run.source_topic, good_values, good_keys)

    letters = read_topic(run.dead_letter_topic, len(bad) + 3)
    records = read_topic(run.predictions_topic, count + len(bad))
    _check_once_and_as_offline(run, "breast_cancer", records, rows, model_factory,
                               {f"g{i}" for i in range(len(bad))})
    assert len(letters) == len(bad) + 3
    tombstone, null_header = sorted((r for r in letters if r.key in (None, b"nh")),
                                    key=lambda r: r.key or b"")
    _check_unproducible(tombstone, null_header)
    letters = [r for r in letters if r.key not in (None, b"nh")]
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
    expected = {kind: 1 for kind in bad} | {"non_finite_feature": 2, "invalid_json": 2,
                                            "empty_record": 1}
    assert wait_until(lambda: run.pipeline.stats().dead_letters_by_reason == expected, 10), (
        run.pipeline.stats().dead_letters_by_reason)
    stats = run.pipeline.stop()
    assert stats.predictions == count + len(bad)
    assert stats.dead_letters_by_reason == expected
    assert stats.restarts == 0


def _check_unproducible(tombstone, null_header) -> None:
    """The dead letters of a keyless tombstone (offset 15) and of a record with a null
    header value (offset 16): the record as it was, what was null, why."""
    headers = _headers(tombstone)
    assert (tombstone.key, tombstone.value) == (None, b"")
    assert headers["error.type"] == "empty_record"
    assert headers["error.message"] == "empty record (no key, no value)"
    assert headers["source.nulls"] == "value" and headers["source.offset"] == "15"
    headers = _headers(null_header)
    assert (null_header.key, null_header.value) == (b"nh", b"not json")
    assert null_header.headers[0] == ("trace", b"")
    assert headers["error.type"] == "invalid_json" and headers["source.nulls"] == "header:trace"
    assert headers["source.offset"] == "16"


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
