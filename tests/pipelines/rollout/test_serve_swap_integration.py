"""Serve mode (``serving: serve``) follows models:/bc@champion too: a promotion mid-stream
deploys the new version as a Serve application of its own, the workers move their handle at
a batch boundary, and the old application goes once nothing waits on it: every event is
scored once, each prediction names the version that made it, and per partition the versions
switch once, in order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from ray import serve

from streaminfer.operators.records import Record
from streaminfer.pipelines.devtools.example_models import Dataset
from streaminfer.pipelines.lifecycle.registry import Registry
from streaminfer.pipelines.runtime.serving import app_name, version_app_name
from streaminfer.waiting import wait_until
from tests.fixtures.registry import registry_section, stop_and_check_versions

pytestmark = pytest.mark.integration
STREAMED = 1_500  # at 200/s, promoted after 300: the swap (seconds) happens mid-stream
AFTER = 500  # produced once the swap is done, so that each partition sees v2
EVENTS = STREAMED + AFTER


def test_promote_in_serve_mode_mid_stream_scores_every_event_once_in_version_order(
    two_versions: Registry, pipeline_factory: Callable[..., Any],
    dataset_factory: Callable[[str], Dataset], feeder: Callable[..., Any],
    watcher: Callable[[str], Any], read_topic: Callable[..., list[Record]],
    make_events: Callable[..., tuple[list[bytes], list[bytes]]], produce: Callable[..., None],
    http_port: int,
) -> None:
    registry = two_versions
    bc = dataset_factory("breast_cancer")
    running = pipeline_factory(
        partitions=2, workers={"count": 2}, registry=registry_section(registry),
        rollout={"poll_interval_s": 0.5}, http={"enabled": True},
        model_options={"path": "models:/bc@champion", "serving": "serve",
                       "serve": {"num_cpus": 0.5, "max_in_flight": 4}})
    follower = running.pipeline.follower
    assert follower is not None and follower.serving == {"bc": "1"}
    model = running.spec.model
    assert model is not None
    feed = feeder(running.source_topic, bc, STREAMED, rate=200)
    seen = watcher(running.predictions_topic)
    feed.start()
    assert seen.until(lambda: len(seen.seen) >= STREAMED // 5)
    registry.promote("bc", "2")
    assert wait_until(lambda: len(follower.history) == 1, 120)
    assert follower.serving == {"bc": "2"}
    assert set(follower.history[0].workers.values()) == {"2"}
    apps = set(serve.status().applications)
    assert version_app_name(running.spec, model, "2") in apps
    assert app_name(running.spec, model) not in apps  # the old one is gone
    event = {"id": "h1", **dict(zip(bc.features, bc.X[0].tolist(), strict=True))}
    answer = httpx.post(f"http://127.0.0.1:{http_port}/score", json=event, timeout=30)
    assert answer.status_code == 200, answer.text  # the HTTP endpoint moved to v2 too
    assert answer.json()["model_version"] == "2"
    feed.join(120)
    assert not feed.failed and feed.sent == STREAMED
    keys, values = make_events(bc, AFTER, start=STREAMED)
    produce(running.source_topic, values, keys)
    assert seen.until(lambda: len(seen.seen) == EVENTS)
    stop_and_check_versions(running, seen, read_topic, EVENTS, ["1", "2"])
    assert not {version_app_name(running.spec, model, "2"), app_name(running.spec, model)} \
        & set(serve.status().applications)  # stop deleted the swapped-in one too


def test_a_version_whose_replicas_cannot_start_is_refused_and_nothing_stays_deployed(
    ray_session: None, pipeline_spec_factory: Callable[..., Any],
) -> None:
    from streaminfer.errors import ModelError
    from streaminfer.pipelines.runtime.serving import deploy_version

    # More CPUs per replica than the cluster has: Serve cannot place it.
    spec = pipeline_spec_factory(model_options={"serving": "serve",
                                                "serve": {"num_cpus": 10_000}})
    serve.start(http_options={"host": spec.http.host, "port": spec.http.port})
    with pytest.raises(ModelError, match=r"Serve replicas of version 2 are deploying after "
                       r"3s; a hot swap starts them beside the serving ones \(1 x 10000 CPU"):
        deploy_version(spec, spec.model, "no-store", "2", timeout_s=3)
    assert version_app_name(spec, spec.model, "2") not in serve.status().applications
