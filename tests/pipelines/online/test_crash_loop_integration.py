"""A worker's run that ends (a kill) keeps its counts in the pipeline's totals, and the
restarted worker scores on; a worker that crashes the same way again and again stops the
pipeline with one line (the crash: its process killed each time it runs again,
``tests/fixtures/crashes.py``). One pipeline goes through both: Ray restarts its worker
after a kill, then after the second and third kills (three in a minute) it stops."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from streaminfer.errors import PipelineError
from streaminfer.waiting import wait_until
from tests.fixtures.crashes import CRASH_LOOP, kill_and_await_restart, kill_each_run

pytestmark = pytest.mark.integration


def crash_loop_error(pipeline: Any) -> PipelineError | None:
    try:
        pipeline.stats()
    except PipelineError as exc:
        return exc
    return None


def test_a_killed_worker_keeps_its_counts_and_a_crash_loop_stops_with_one_line(
    pipeline_factory: Callable[..., Any], dataset_factory: Callable[[str], Any],
    make_events: Callable[..., tuple[list[bytes], list[bytes]]],
    produce: Callable[..., None], read_topic: Callable[..., list[Any]],
    read_all: Callable[[str], list[Any]],
) -> None:
    import ray

    run = pipeline_factory(workers={"count": 1, "max_restarts": 12}, partitions=1)
    bc = dataset_factory("breast_cancer")
    keys, values = make_events(bc, 300)
    produce(run.source_topic, values, keys)
    assert len(read_topic(run.predictions_topic, 300)) == 300
    # The driver's monitor must have seen the counters before a kill: a killed process's
    # counts since the monitor's last look (1 s) die with it.
    assert wait_until(lambda: run.pipeline.stats().predictions == 300, 30)
    monitor = run.pipeline._runtime.driver_threads()[0]
    steps = monitor.steps
    assert monitor.wait_for(lambda: monitor.steps >= steps + 2, 30)

    # One kill: Ray restarts the worker, its counters start from 0, the totals keep the
    # killed run's counts, and the new run scores what comes next.
    victim = run.pipeline.worker_names[0]
    handle = ray.get_actor(victim, namespace=run.spec.ray.namespace)
    kill_and_await_restart(handle)
    keys, values = make_events(bc, 300, start=300)
    produce(run.source_topic, values, keys)
    assert len(read_topic(run.predictions_topic, 600)) >= 600
    assert wait_until(lambda: run.pipeline.stats().predictions >= 600, 60)
    live = run.pipeline.stats()
    assert (live.events_in, live.predictions, live.restarts) == (600, 600, 1)

    failure: list[PipelineError] = []

    def failed() -> bool:
        error = crash_loop_error(run.pipeline)
        failure.extend([error] if error is not None else [])
        return bool(failure)

    # Two more kills within the minute make three: the crash loop.
    steps = monitor.steps
    assert monitor.wait_for(lambda: monitor.steps >= steps + 2, 30)
    kills = 1 + kill_each_run(victim, run.spec.ray.namespace, failed)
    assert failure, "the crash loop did not stop the pipeline"
    line = str(failure[0])
    assert "\n" not in line
    assert line.startswith(CRASH_LOOP), line
    final = run.pipeline.stop()
    ids = Counter(orjson.loads(r.value)["id"] for r in read_all(run.predictions_topic))
    assert set(ids) == {f"e{i}" for i in range(600)}
    assert (final.events_in, final.predictions) == (600, 600) == (len(ids), sum(ids.values()))
    assert final.restarts >= 2 and kills >= 3  # the killed runs before the last one, in the totals

