"""A worker's run that ends (a crash, a kill) keeps its counts in the pipeline's totals, and
workers that crash the same way again and again stop the pipeline with one line (the crash:
its process killed each time it runs again, ``tests/fixtures/crashes.py``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from streaminfer.errors import PipelineError
from streaminfer.waiting import wait_until
from tests.fixtures.crashes import CRASH_LOOP, kill_each_run

pytestmark = pytest.mark.integration


def crash_loop_error(pipeline: Any) -> PipelineError | None:
    try:
        pipeline.stats()
    except PipelineError as exc:
        return exc
    return None


def test_a_crash_loop_stops_with_one_line_and_keeps_the_counts(
    pipeline_factory: Callable[..., Any], dataset_factory: Callable[[str], Any],
    make_events: Callable[..., tuple[list[bytes], list[bytes]]],
    produce: Callable[..., None], read_topic: Callable[..., list[Any]],
    read_all: Callable[[str], list[Any]],
) -> None:
    run = pipeline_factory(workers={"count": 1, "max_restarts": 12}, partitions=1)
    keys, values = make_events(dataset_factory("breast_cancer"), 300)
    produce(run.source_topic, values, keys)
    assert len(read_topic(run.predictions_topic, 300)) == 300
    assert wait_until(lambda: run.pipeline.stats().predictions == 300, 30)

    failure: list[PipelineError] = []

    def failed() -> bool:
        error = crash_loop_error(run.pipeline)
        failure.extend([error] if error is not None else [])
        return bool(failure)

    # The driver's monitor must have seen the counters before the first kill (as below).
    monitor = run.pipeline._runtime.driver_threads()[0]
    steps = monitor.steps
    assert monitor.wait_for(lambda: monitor.steps >= steps + 2, 30)
    kills = kill_each_run(run.pipeline.worker_names[0], run.spec.ray.namespace, failed)
    assert failure, "the crash loop did not stop the pipeline"
    line = str(failure[0])
    assert "\n" not in line
    assert line.startswith(CRASH_LOOP), line
    final = run.pipeline.stop()
    held = read_all(run.predictions_topic)
    assert len(held) == 300 and final.predictions == 300 and final.events_in == 300
    assert final.restarts >= 2 and kills >= 3  # the killed runs before the last one, in the totals


def test_a_killed_worker_restarted_by_ray_keeps_its_counts_in_the_totals(
    pipeline_factory: Callable[..., Any], dataset_factory: Callable[[str], Any],
    make_events: Callable[..., tuple[list[bytes], list[bytes]]],
    produce: Callable[..., None], read_topic: Callable[..., list[Any]],
    read_all: Callable[[str], list[Any]],
) -> None:
    import ray

    run = pipeline_factory(workers={"count": 2, "max_restarts": 2}, partitions=2)
    bc = dataset_factory("breast_cancer")
    keys, values = make_events(bc, 400)
    produce(run.source_topic, values, keys)
    assert len(read_topic(run.predictions_topic, 400)) == 400
    # The driver's monitor must have seen the counters before the kill: a killed process's
    # counts since the monitor's last look (1 s) die with it.
    monitor = run.pipeline._runtime.driver_threads()[0]
    steps = monitor.steps
    assert wait_until(lambda: run.pipeline.stats().events_in == 400, 30)
    assert monitor.wait_for(lambda: monitor.steps >= steps + 2, 30)
    victim = run.pipeline.worker_names[0]
    handle = ray.get_actor(victim, namespace=run.spec.ray.namespace)
    pid = ray.get(handle.stats.remote(False)).pid
    ray.kill(handle, no_restart=False)  # Ray restarts it: its counters start from 0
    assert wait_until(lambda: _pid_of(handle) not in (None, pid), 120)

    keys, values = make_events(bc, 400, start=400)
    produce(run.source_topic, values, keys)
    assert len(read_topic(run.predictions_topic, 800)) >= 800
    assert wait_until(lambda: run.pipeline.stats().events_in >= 800, 60)
    final = run.pipeline.stop()
    ids = Counter(orjson.loads(r.value)["id"] for r in read_all(run.predictions_topic))
    assert set(ids) == {f"e{i}" for i in range(800)}
    assert (final.events_in, final.predictions) == (800, 800) == (len(ids), sum(ids.values()))
    assert final.restarts == 1


def _pid_of(handle: Any) -> int | None:
    import ray

    try:
        stats = ray.get(handle.stats.remote(False), timeout=5)
    except ray.exceptions.RayError:
        return None
    return None if stats is None else int(stats.pid)
