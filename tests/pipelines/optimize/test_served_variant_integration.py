"""Optimized variants served by a real pipeline (real broker, Ray and ONNX Runtime): every
event is scored, and the predictions agree with the original at least as well as
``optimize`` measured. One pipeline serves both variants, routed by an event field (one
pipeline start instead of one per variant)."""

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
VARIANTS = ("int8-static-qdq", "structured-25")


def test_each_variant_scores_every_event_and_agrees_as_measured(
    digits_run, pipeline_factory, produce, read_topic, make_events
):
    report, _, rows = digits_run
    measured = {name: report.variant(name) for name in VARIANTS}
    for variant in measured.values():
        assert variant.file is not None and variant.agreement is not None
    held_out = Dataset(list(rows.features), rows.X, rows.y)
    count = len(rows.y)
    run = pipeline_factory(
        model=Path(str(measured[VARIANTS[0]].file)), features=list(rows.features),
        partitions=2,
        models=[{"path": str(measured[name].file), "name": name} for name in VARIANTS],
        routing={"field": "variant", "routes": {name: name for name in VARIANTS}})
    for n, name in enumerate(VARIANTS):  # ids e0.. for the first, e<count>.. the second
        keys, values = make_events(held_out, count, start=n * count)
        produce(run.source_topic, [orjson.dumps({**orjson.loads(v), "variant": name})
                                   for v in values], keys)

    records = read_topic(run.predictions_topic, 2 * count, timeout_s=120)
    predictions = {p["id"]: p for p in (orjson.loads(r.value) for r in records)}
    # each exactly once
    assert sorted(predictions) == sorted(f"e{i}" for i in range(2 * count))
    # A worker counts a batch after its predictions are acknowledged and its offsets
    # committed, so a live reading may lag the topic: the final counters are exact.
    stats = run.pipeline.stop()
    assert stats.predictions == 2 * count and stats.dead_letters == 0
    original = OnnxModel.load(report.model).predict_rows(rows.X.astype(np.float32))
    for n, name in enumerate(VARIANTS):
        mine = [predictions[f"e{n * count + i}"] for i in range(count)]
        assert {(p["model"], p["model_version"]) for p in mine} == {
            (name, measured[name].sha256[:12])}, name
        same = [p["label"] == original[i]["label"] for i, p in enumerate(mine)]
        assert np.mean(same) >= measured[name].agreement - 1e-12, name
