"""Models on Ray Serve replicas: same predictions as in-process, autoscaling, failures
(HTTP: test_http_integration.py)."""

from __future__ import annotations

import numpy as np
import orjson
import pytest
import ray
from ray import serve

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


def test_serve_mode_gives_the_same_predictions_as_colocated(
    ray_session, pipeline_spec_factory, dataset_factory, make_events, produce, read_topic
):
    from streaminfer import Pipeline

    served_spec = pipeline_spec_factory(model_options={"serving": "serve"}, partitions=2)
    # The same events, scored in-process by a second pipeline in its own group.
    colocated_spec = served_spec.model_copy(update={
        "name": served_spec.name + "-c",
        "model": served_spec.model.model_copy(update={"serving": "colocated"}),
        "source": served_spec.source.model_copy(update={"group_id": "colocated"}),
        "sink": served_spec.sink.model_copy(update={"predictions_topic": "c-" +
                                                    served_spec.sink.predictions_topic}),
    })
    keys, values = make_events(dataset_factory("breast_cancer"), 500)
    produce(served_spec.source.topics[0], values, keys)
    with Pipeline(served_spec), Pipeline(colocated_spec):
        served = _by_id(read_topic(served_spec.sink.predictions_topic, 500))
        local = _by_id(read_topic(colocated_spec.sink.predictions_topic, 500))
    assert len(served) == len(local) == 500
    for event_id, expected in local.items():
        got = served[event_id]
        assert got["label"] == expected["label"]
        np.testing.assert_allclose(got["probabilities"], expected["probabilities"], rtol=1e-6)
        assert (got["model"], got["model_version"]) == (expected["model"],
                                                        expected["model_version"])


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
        assert wait_until(lambda: _replicas(run.spec, model) == 2, 60), "no scale-up"
    finally:
        load.halt.set()
        load.join()
    assert wait_until(lambda: _replicas(run.spec, model) == 1, 60), "no scale-down"


def test_a_killed_replica_loses_nothing(pipeline_factory, dataset_factory, feeder, read_topic):
    run = pipeline_factory(model_options={"serving": "serve",
                                          "serve": {"min_replicas": 2, "max_replicas": 2,
                                                    "num_cpus": 0.5, "request_timeout_s": 5}})
    load = feeder(run.source_topic, dataset_factory("breast_cancer"), ENDLESS, rate=1000)
    load.start()
    try:
        assert wait_until(lambda: run.pipeline.stats().predictions >= 1000, 60)
        replicas = [a for a in ray.util.list_named_actors(all_namespaces=True)
                    if a["name"].startswith(f"SERVE_REPLICA::{app_name(run.spec, run.spec.model)}")]
        assert len(replicas) == 2
        ray.kill(ray.get_actor(replicas[0]["name"], namespace=replicas[0]["namespace"]))
        before = run.pipeline.stats().predictions
        assert wait_until(lambda: run.pipeline.stats().predictions >= before + 2000, 60)
    finally:
        load.halt.set()
        load.join()
    expected = {f"e{i}" for i in range(load.sent)}
    seen = {orjson.loads(r.value)["id"] for r in read_topic(run.predictions_topic, load.sent,
                                                              timeout_s=90)}
    assert expected <= seen, f"{len(expected - seen)} events lost"
