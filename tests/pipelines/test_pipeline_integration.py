"""The online pipeline end to end: real broker, real Ray, real ONNX Runtime sessions."""

from __future__ import annotations

import orjson
import numpy as np
import pytest

from streaminfer.operators.model_runner import OnnxModel

pytestmark = pytest.mark.integration


def _events(dataset, count: int, array_field: bool) -> tuple[list[bytes], list[bytes], np.ndarray]:
    rows = dataset.X[np.arange(count) % len(dataset.X)]
    keys, values = [], []
    for i, row in enumerate(rows):
        event = {"id": f"e{i}"}
        if array_field:
            event["x"] = row.tolist()
        else:
            event.update(zip(dataset.features, row.tolist()))
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
    assert all(r.key == p["id"].encode() for r, p in zip(records, predictions))

    offline = OnnxModel.load(model_factory(model)).predict_rows(rows.astype(np.float32))
    by_id = {p["id"]: p for p in predictions}
    for i, expected in enumerate(offline):
        got = by_id[f"e{i}"]
        for field, value in expected.items():
            np.testing.assert_allclose(got[field], value, rtol=1e-6, err_msg=field)
        assert got["source"]["topic"] == run.source_topic
        assert got["latency_ms"] >= 0 and got["model_version"]
    stats = run.pipeline.stats()
    assert stats.predictions == count and stats.dead_letters == 0
