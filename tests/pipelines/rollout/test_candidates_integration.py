"""Shadow and canary in a running pipeline that follows models:/bc@champion: a shadow's
predictions go to the shadow topic only and never change the served ones; a canary answers
a share of the events close to the setting, the same events for the same ids. One pipeline
runs both, one after the other."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

from streaminfer.operators.records import Record
from streaminfer.pipelines.devtools.example_models import Dataset
from streaminfer.pipelines.feedback.status import fetch_metrics, parse_status
from streaminfer.pipelines.lifecycle.registry import Registry
from streaminfer.pipelines.lifecycle.swap_rule import CANARY_SHARE_TAG, candidate_moves
from streaminfer.pipelines.lifecycle.versions import Candidate
from streaminfer.pipelines.runtime.candidates import canary_picks
from streaminfer.waiting import wait_until

pytestmark = pytest.mark.integration
EVENTS = 600


def values_of(records: list[Record]) -> list[dict[str, Any]]:
    return [orjson.loads(r.value) for r in records if r.value is not None]


def test_a_shadow_changes_no_served_prediction_then_a_canary_answers_a_stable_share(
    two_versions: Registry, following: Callable[..., Any],
    dataset_factory: Callable[[str], Dataset],
    make_events: Callable[..., tuple[list[bytes], list[bytes]]],
    produce: Callable[..., None], read_topic: Callable[..., list[Record]],
    read_all: Callable[[str], list[Record]],
) -> None:
    """One pipeline: version 2 runs as a shadow on e0..e599, then as a canary on e600..e1199
    (each sent twice); the canary replaces the shadow."""
    registry = two_versions
    running = following(partitions=2, workers={"count": 2})
    follower = running.pipeline.follower
    bc = dataset_factory("breast_cancer")

    # The shadow: its predictions go to the shadow topic only.
    registry.apply("bc", candidate_moves(registry.aliases("bc"), "shadow", "2"))
    assert wait_until(lambda: follower.following["bc"].candidate == Candidate("2", "shadow"), 60)
    keys, values = make_events(bc, EVENTS)
    produce(running.source_topic, values, keys)
    served = values_of(read_topic(running.predictions_topic, EVENTS))
    url = running.pipeline.metrics_url
    assert url is not None
    assert wait_until(lambda: parse_status(fetch_metrics(url)).shadow.get(("bc", "2"),
                                                                          [0])[0] == EVENTS, 30)
    endpoint = parse_status(fetch_metrics(url)).shadow[("bc", "2")]
    workers = running.pipeline.stats().workers
    shadow_topic = running.spec.rollout.shadow_topic_for(running.predictions_topic)
    shadowed = values_of(read_topic(shadow_topic, EVENTS))
    assert {p["model_version"] for p in served} == {"1"}
    assert len(shadowed) == EVENTS
    assert {p["model_version"] for p in shadowed} == {"2"}
    assert sorted(p["id"] for p in shadowed) == sorted(p["id"] for p in served)
    by_id = {p["id"]: p["label"] for p in served}
    agreeing = sum(by_id[p["id"]] == p["label"] for p in shadowed)
    compared = sum(w.shadow.get(("bc", "2"), [0, 0])[0] for w in workers)
    agreed = sum(w.shadow.get(("bc", "2"), [0, 0])[1] for w in workers)
    assert (compared, agreed) == (EVENTS, agreeing)
    assert endpoint == [EVENTS, agreeing]  # what `streaminfer status` shows
    assert agreeing > EVENTS * 0.8  # both models learnt the same task

    # The canary (replacing the shadow): a stable share of the events, by id.
    registry.tag(registry.resolve("bc", "2"), {CANARY_SHARE_TAG: "0.3"})
    registry.apply("bc", candidate_moves(registry.aliases("bc"), "canary", "2"))
    assert wait_until(
        lambda: follower.following["bc"].candidate == Candidate("2", "canary", 0.3), 60)
    keys, values = make_events(bc, EVENTS, start=EVENTS)
    produce(running.source_topic, values, keys)  # and the same ids once more
    produce(running.source_topic, values, keys)
    predictions = [p for p in values_of(read_topic(running.predictions_topic, 3 * EVENTS))
                   if int(p["id"][1:]) >= EVENTS]
    assert len(predictions) == 2 * EVENTS
    canary = {p["id"] for p in predictions if p["model_version"] == "2"}
    ids = [f"e{i}" for i in range(EVENTS, 2 * EVENTS)]
    assert canary == {i for i, pick in zip(ids, canary_picks(ids, 0.3), strict=True) if pick}
    assert 0.22 < len(canary) / EVENTS < 0.38
    twice: dict[str, set[str]] = {}
    for p in predictions:
        twice.setdefault(p["id"], set()).add(p["model_version"])
    assert all(len(versions) == 1 for versions in twice.values())  # stable per id

    final = running.pipeline.stop()
    everything_served = values_of(read_all(running.predictions_topic))  # stopped: all there is
    assert len(everything_served) == 3 * EVENTS == final.predictions
    # the shadow wrote nothing more once the canary replaced it
    assert len(values_of(read_all(shadow_topic))) == EVENTS
