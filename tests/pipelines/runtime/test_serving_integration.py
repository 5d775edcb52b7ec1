"""Models on Ray Serve replicas: the model's predictions, autoscaling, failures
(HTTP: test_http_integration.py)."""

from __future__ import annotations

import numpy as np
import orjson
import pytest
import ray
from ray import serve

from streaminfer.operators.model_runner import read_model_file
from streaminfer.pipelines.runtime.assembly import load_model
from streaminfer.pipelines.runtime.serving import DEPLOYMENT, app_name
from streaminfer.waiting import wait_until

pytestmark = pytest.mark.integration

ENDLESS = 10**9  # events a feeder would send: until halted


def _by_id(records) -> dict[str, dict]:
    out = {}
    for record in records:
        value = orjson.loads(record.value)
        out[value["id"]] = value
    return out


def _replicas(spec, model) -> int:
    status = serve.status().applications[app_name(spec, model)]
    states = status.deployments[DEPLOYMENT].replica_states
    return int(states.get("RUNNING", 0))


def test_replicas_scale_up_under_load_and_back_down_when_it_stops(
    pipeline_factory, dataset_factory, feeder
):
    serve_options = {"min_replicas": 1, "max_replicas": 2, "target_ongoing_requests": 1,
                     "upscale_delay_s": 1, "downscale_delay_s": 2, "max_in_flight": 4,
                     "num_cpus": 0.5, "batch_wait_timeout_s": 0.05, "max_batch_size": 1}
    run = pipeline_factory(model_options={"serving": "serve", "serve": serve_options},
                           workers={"count": 2}, batching={"max_size": 16, "max_wait_ms": 1})
    model = run.spec.model
    assert _replicas(run.spec, model) == 1
    load = feeder(run.source_topic, dataset_factory("breast_cancer"), ENDLESS, rate=3000)
    load.start()
    try:
        # serve.status() asks Serve's controller: not too often, it is busy scaling
        assert wait_until(lambda: _replicas(run.spec, model) == 2, 60, every_s=0.5), \
            "no scale-up"
    finally:
        load.halt.set()
        load.join()
    assert wait_until(lambda: _replicas(run.spec, model) == 1, 60, every_s=0.5), \
        "no scale-down"


def test_served_predictions_equal_the_model_offline_and_a_killed_replica_loses_nothing(
    pipeline_factory, dataset_factory, feeder, read_topic
):
    """Two replicas under load, one killed: every event is scored, each prediction as the
    model scores its row offline (in-process scoring equals offline: test_scoring.py)."""
    run = pipeline_factory(model_options={"serving": "serve",
                                          "serve": {"min_replicas": 2, "max_replicas": 2,
                                                    "num_cpus": 0.5, "request_timeout_s": 5}})
    model = run.spec.model
    data = dataset_factory("breast_cancer")
    load = feeder(run.source_topic, data, ENDLESS, rate=1000)
    load.start()
    try:
        assert wait_until(lambda: run.pipeline.stats().predictions >= 1000, 60)
        replicas = [a for a in ray.util.list_named_actors(all_namespaces=True)
                    if a["name"].startswith(f"SERVE_REPLICA::{app_name(run.spec, model)}")]
        assert len(replicas) == 2
        ray.kill(ray.get_actor(replicas[0]["name"], namespace=replicas[0]["namespace"]))
        before = run.pipeline.stats().predictions
        assert wait_until(lambda: run.pipeline.stats().predictions >= before + 2000, 60)
    finally:
        load.halt.set()
        load.join()
    assert not load.failed, load.failed
    expected = {f"e{i}" for i in range(load.sent)}
    served = _by_id(read_topic(run.predictions_topic, load.sent, timeout_s=90))
    assert expected <= set(served), f"{len(expected - set(served))} events lost"
    scorer = load_model(model, read_model_file(model.path))
    offline = scorer.predict_rows(data.X.astype(np.float32))
    for event_id, got in served.items():
        row = offline[int(event_id[1:]) % len(data.X)]
        assert got["label"] == row["label"]
        # float32 outputs; a batch's size may move the last bit (offline: 569 rows at once)
        np.testing.assert_allclose(got["probabilities"], row["probabilities"], rtol=1e-6,
                                   atol=1e-6)
        assert (got["model"], got["model_version"]) == (scorer.info.name, scorer.info.version)
