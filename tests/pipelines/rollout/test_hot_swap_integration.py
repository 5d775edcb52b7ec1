"""A running pipeline follows models:/bc@champion: promote and rollback mid-stream swap the
workers at a batch boundary (every event once, one switch per partition and move, in order),
a version whose artifact changed after registration is refused (the old one serves), and a
worker Ray restarts after a promotion serves the promoted version."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from streaminfer.errors import ModelError
from streaminfer.operators.records import Record
from streaminfer.pipelines.devtools.example_models import Dataset
from streaminfer.pipelines.lifecycle.registry import Lineage, Registry
from streaminfer.waiting import wait_until
from tests.fixtures.crashes import kill_and_await_restart
from tests.fixtures.registry import stop_and_check_versions

pytestmark = pytest.mark.integration
EVENTS = 2_400  # at 400/s: each swap (< 1.5 s) lands mid-stream


def test_promote_then_rollback_mid_stream_switch_each_partition_once_each_way(
    two_versions: Registry, following: Callable[..., Any],
    dataset_factory: Callable[[str], Dataset], feeder: Callable[..., Any],
    watcher: Callable[[str], Any], read_topic: Callable[..., list[Record]],
) -> None:
    registry = two_versions
    bc = dataset_factory("breast_cancer")
    running = following(partitions=2, workers={"count": 2})
    follower = running.pipeline.follower
    assert follower is not None and follower.serving == {"bc": "1"}
    feed = feeder(running.source_topic, bc, EVENTS, rate=400)
    seen = watcher(running.predictions_topic)
    feed.start()
    assert seen.until(lambda: len(seen.seen) >= EVENTS // 4)
    registry.promote("bc", "2")
    assert wait_until(lambda: len(follower.history) == 1, 60)
    assert follower.serving == {"bc": "2"}
    assert set(follower.history[0].workers.values()) == {"2"}
    marked = len(seen.seen)
    assert seen.until(lambda: len(seen.seen) >= marked + EVENTS // 4)
    registry.rollback("bc")
    assert wait_until(lambda: len(follower.history) == 2, 60)
    feed.join(120)
    assert not feed.failed and feed.sent == EVENTS
    assert seen.until(lambda: len(seen.seen) == EVENTS)
    stop_and_check_versions(running, seen, read_topic, EVENTS, ["1", "2", "1"])
    assert [(r.from_version, r.to_version) for r in follower.history] == [("1", "2"),
                                                                          ("2", "1")]


def test_a_changed_artifact_is_refused_then_a_worker_restarted_after_a_promotion_serves_it(
    two_versions: Registry, following: Callable[..., Any],
    train_onnx: Callable[[np.ndarray, np.ndarray, str], Path],
    dataset_factory: Callable[[str], Dataset],
    make_events: Callable[..., tuple[list[bytes], list[bytes]]],
    produce: Callable[..., None], read_topic: Callable[..., list[Record]],
    committed_offsets: Callable[[str, str], dict[int, int]],
) -> None:
    """One pipeline: version 3, whose artifact changed after registration, is refused and
    version 1 still serves; then version 2 is promoted and a worker Ray restarts serves it."""
    import ray

    registry = two_versions
    bc = dataset_factory("breast_cancer")
    registry.register_model("bc", train_onnx(bc.X[1::2], bc.y[1::2], "odd"), metrics={},
                            lineage=Lineage("retrain", parent_version="1"))  # version 3
    running = following(partitions=2, workers={"count": 1, "max_restarts": 2})
    follower = running.pipeline.follower
    assert follower is not None

    stored = Path(registry.resolve("bc", "3").source.removeprefix("file://")) / "model.onnx"
    stored.write_bytes(stored.read_bytes() + b"\0")  # changed after registration
    with pytest.raises(ModelError, match="changed after it was registered"):
        registry.promote("bc", "3")  # our promote checks the digest first
    registry.set_alias("bc", "champion", "3")  # as a client that does not (the MLflow UI)
    assert wait_until(lambda: "3" in follower.following["bc"].refused, 60)
    assert "changed after it was registered; refusing" in follower.following["bc"].refused["3"]
    assert follower.serving == {"bc": "1"} and follower.history == []
    keys, values = make_events(bc, 200)
    produce(running.source_topic, values, keys)
    first = read_topic(running.predictions_topic, 200)
    assert {orjson.loads(r.value or b"{}")["model_version"] for r in first} == {"1"}

    registry.promote("bc", "2")
    assert wait_until(lambda: follower.serving == {"bc": "2"}, 60)
    keys, values = make_events(bc, 200, start=200)
    produce(running.source_topic, values, keys)
    group = running.spec.source.group_id
    assert wait_until(lambda: sum(committed_offsets(group, running.source_topic).values())
                      == 400, 60)
    [name] = running.pipeline.worker_names
    worker = ray.get_actor(name, namespace=running.spec.ray.namespace)
    kill_and_await_restart(worker)
    keys, values = make_events(bc, 200, start=400)
    produce(running.source_topic, values, keys)
    predictions = [orjson.loads(r.value) for r in read_topic(running.predictions_topic, 600)
                   if r.value is not None]
    after = [p for p in predictions if int(p["id"][1:]) >= 400]
    assert len({p["id"] for p in after}) == 200
    assert {p["model_version"] for p in predictions if int(p["id"][1:]) >= 200} == {"2"}

