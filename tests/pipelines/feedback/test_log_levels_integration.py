"""``streaminfer -v`` reaches the actors: a pipeline started verbose has kafka-python
logging at INFO in its workers and its joiners (quiet, they say only what is CRITICAL)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from streaminfer.pipelines.process.log_levels import VERBOSE_ENV

pytestmark = pytest.mark.integration


def kafka_level(actor: Any) -> int:
    import ray

    def level(_: Any) -> int:
        return logging.getLogger("kafka").level

    return int(ray.get(actor.__ray_call__.remote(level), timeout=30))


def test_the_verbose_setting_reaches_workers_and_joiners(
    feedback_pipeline: Callable[..., Any], monkeypatch: pytest.MonkeyPatch,
) -> None:
    import ray

    monkeypatch.setenv(VERBOSE_ENV, "1")  # what `streaminfer -v` sets in the driver
    running = feedback_pipeline()
    namespace = running.spec.ray.namespace
    joiners = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
               if a["name"].startswith(f"{running.spec.name}-joiner-")]
    assert joiners and running.pipeline.worker_names
    for name in [*running.pipeline.worker_names, *joiners]:
        assert kafka_level(ray.get_actor(name, namespace=namespace)) == logging.INFO, name
