"""An optimized variant served by a real pipeline (real broker, Ray and ONNX Runtime): every
event is scored, and the predictions agree with the original at least as well as
``optimize`` measured."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pytest

from streaminfer.operators.model_runner import OnnxModel
from streaminfer.pipelines.devtools.example_models import Dataset

pytestmark = pytest.mark.integration


# int8-static-qdq: calibrated ranges, so a row's prediction does not depend on the rest of its
# micro-batch (dynamic int8 quantizes activations per batch: its agreement may move a little
# with the batching).
@pytest.mark.parametrize("variant", ["int8-static-qdq", "structured-25"])
def test_a_variant_scores_every_event_and_agrees_as_measured(
    variant, digits_run, pipeline_factory, produce, read_topic, make_events
):
    report, _, rows = digits_run
    measured = report.variant(variant)
    assert measured.file is not None and measured.agreement is not None
    held_out = Dataset(list(rows.features), rows.X, rows.y)
    count = len(rows.y)
    run = pipeline_factory(model=Path(measured.file),
                           features=list(rows.features), partitions=2)
    keys, values = make_events(held_out, count)
    produce(run.source_topic, values, keys)

    records = read_topic(run.predictions_topic, count, timeout_s=120)
    predictions = {p["id"]: p for p in (orjson.loads(r.value) for r in records)}
    assert sorted(predictions) == sorted(f"e{i}" for i in range(count))  # each exactly once
    # A worker counts a batch after its predictions are acknowledged and its offsets
    # committed, so a live reading may lag the topic: the final counters are exact.
    stats = run.pipeline.stop()
    assert stats.predictions == count and stats.dead_letters == 0
    original = OnnxModel.load(report.model).predict_rows(rows.X.astype(np.float32))
    same = [predictions[f"e{i}"]["label"] == original[i]["label"] for i in range(count)]
    assert np.mean(same) >= measured.agreement - 1e-12
    assert predictions["e0"]["model_version"] == measured.sha256[:12]
