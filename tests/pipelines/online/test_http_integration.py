"""The HTTP route of a pipeline whose model is on Ray Serve: one event or a list scored with
the Kafka contract, and each kind of bad request refused with a JSON error."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from streaminfer import Pipeline

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def http_pipeline(ray_session, pipeline_spec_factory, http_port):
    """One pipeline with its model on Serve and the HTTP route, for both tests: they only
    send requests (starting one costs a Serve deployment and a group join, ~15 s here)."""
    spec = pipeline_spec_factory(model_options={"serving": "serve"},
                                 http={"enabled": True, "port": http_port, "max_events": 5})
    pipeline = Pipeline(spec).start()
    try:
        pipeline.wait_ready(timeout_s=60)
        yield pipeline
    finally:
        pipeline.stop()


def test_http_scores_one_event_and_a_list_with_the_kafka_contract(
    http_pipeline, http_port, dataset_factory, model_factory
):
    from streaminfer.operators.model_runner import OnnxModel

    data = dataset_factory("breast_cancer")
    url = f"http://127.0.0.1:{http_port}/score"
    event = {"id": "h1", **dict(zip(data.features, data.X[3].tolist(), strict=True))}
    one = httpx.post(url, json=event, timeout=30)
    assert one.status_code == 200, one.text
    body = one.json()
    offline = OnnxModel.load(model_factory("breast_cancer")).predict_rows(
        data.X[3:4].astype(np.float32))[0]
    assert body["id"] == "h1" and body["label"] == offline["label"]
    np.testing.assert_allclose(body["probabilities"], offline["probabilities"], rtol=1e-6)
    assert set(body) >= {"model", "model_version", "latency_ms", "source", "ts"}
    assert body["source"] == {"topic": "http", "partition": 0, "offset": 0}

    events = [{"id": f"b{i}", **dict(zip(data.features, data.X[i].tolist(), strict=True))}
              for i in range(4)]
    many = httpx.post(url, json=events, timeout=30)
    assert many.status_code == 200
    assert [p["id"] for p in many.json()] == ["b0", "b1", "b2", "b3"]


def test_http_refuses_each_kind_of_bad_request_with_a_json_error(
    http_pipeline, http_port, dataset_factory
):
    data = dataset_factory("breast_cancer")
    url = f"http://127.0.0.1:{http_port}/score"
    good = {"id": "g", **dict(zip(data.features, data.X[0].tolist(), strict=True))}
    missing = {k: v for k, v in good.items() if k != "mean_area"}
    cases = [
        (dict(content=b"{not json"), 400, "invalid_json", None),
        (dict(json="a string"), 400, "invalid_request", None),
        (dict(json=[]), 400, "invalid_request", None),
        (dict(json=[good] * 6), 413, "too_many_events", None),
        (dict(json=[good, missing]), 422, "missing_feature", "mean_area"),
        (dict(json={**good, "worst_area": "big"}), 422, "non_numeric_feature", "worst_area"),
        (dict(json=[good, ["an", "array"]]), 422, "not_an_object", None),
    ]
    for kwargs, status, kind, field in cases:
        response = httpx.post(url, timeout=30, **kwargs)
        assert response.status_code == status, (kwargs, response.text)
        body = response.json()
        assert body["error"] == kind and body["message"]
        if field is not None:
            assert body["errors"][0]["field"] == field
            assert body["errors"][0]["index"] == (0 if isinstance(kwargs["json"], dict) else 1)
    assert httpx.get(url, timeout=30).status_code == 405
