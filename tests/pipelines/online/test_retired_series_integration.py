"""A worker retired by a scale-in leaves /metrics: real broker, real Ray, real workers.

Before, the driver kept serving a retired worker's last families, so its
``streaminfer_consumer_lag`` stayed on the endpoint at its last value (dashboards and
alerts saw lag that was not there).
"""

from __future__ import annotations

import urllib.request
from collections.abc import Callable

import pytest
from prometheus_client.parser import text_string_to_metric_families

from streaminfer import Pipeline, PipelineError, PipelineSpec
from streaminfer.operators.metric_names import CONSUMER_LAG
from streaminfer.waiting import wait_until

pytestmark = pytest.mark.integration


def series_by_worker(url: str, name: str) -> set[str]:
    """The ``worker`` labels of the samples of family ``name`` the endpoint serves now."""
    with urllib.request.urlopen(url, timeout=10) as answer:
        text = answer.read().decode()
    return {s.labels["worker"] for family in text_string_to_metric_families(text)
            if family.name == name for s in family.samples}


def test_a_worker_retired_by_a_scale_in_leaves_the_endpoint(
    ray_session: None, pipeline_spec_factory: Callable[..., PipelineSpec],
) -> None:
    pipeline = Pipeline(pipeline_spec_factory(partitions=2, workers={"count": 2}))
    try:
        pipeline.start()
        url = pipeline.metrics_url
        assert url is not None
        first, newest = pipeline.worker_names
        # Both workers own a partition and report their lag before the scale-in.
        pipeline.wait_ready(60, balanced=True)
        assert wait_until(lambda: series_by_worker(url, CONSUMER_LAG) == {first, newest},
                          30), series_by_worker(url, CONSUMER_LAG)
        with pytest.raises(PipelineError, match="at least 1 worker"):
            pipeline.scale_workers(0)
        pipeline.scale_workers(1)  # as an operator does it: the newest worker leaves
        assert pipeline.worker_names == [first]
        assert wait_until(lambda: newest not in series_by_worker(url, CONSUMER_LAG), 10), (
            f"{newest} retired, but its {CONSUMER_LAG} is still served")
        # Every family of the retired worker is gone, not only the lag; the survivor's
        # stays (and takes over the partition the retired worker had).
        assert wait_until(lambda: series_by_worker(url, CONSUMER_LAG) == {first}, 30)
        with urllib.request.urlopen(url, timeout=10) as answer:
            text = answer.read().decode()
        workers = {s.labels.get("worker") for family in text_string_to_metric_families(text)
                   for s in family.samples}
        assert newest not in workers and first in workers
    finally:
        pipeline.stop()
    with pytest.raises(PipelineError, match="is not running"):
        pipeline.scale_workers(2)
