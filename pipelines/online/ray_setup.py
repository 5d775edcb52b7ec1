"""Ray for a pipeline: joined when it runs, else started with room for every actor."""

from __future__ import annotations

import logging
import math
import os
from typing import Any

from streaminfer.errors import PipelineError
from streaminfer.pipelines.spec.schema import PipelineSpec


def start_ray(spec: PipelineSpec) -> bool:
    """Start (or join) Ray unless it runs in this process; True when this call started it."""
    import ray

    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {
        "namespace": spec.ray.namespace,
        "include_dashboard": False,
        "logging_level": logging.WARNING,
    }
    if spec.ray.address:
        kwargs["address"] = spec.ray.address
    elif not os.environ.get("RAY_ADDRESS"):  # else ray.init joins that cluster
        kwargs["num_cpus"] = max(os.cpu_count() or 1, cpus_needed(spec))
    try:
        ray.init(**kwargs)
    except ConnectionError as exc:
        raise PipelineError(
            f"cannot connect to Ray at {spec.ray.address} (ray.address): {exc}"
        ) from None
    return True


def cpus_needed(spec: PipelineSpec) -> int:
    """CPUs the most workers and replicas of ``spec`` reserve together."""
    workers = spec.workers
    most = max(workers.count, workers.autoscale.max_workers if workers.autoscale.enabled else 0)
    replicas = sum(m.serve.max_replicas * m.serve.num_cpus
                   for m in spec.model_specs if m.serving == "serve")
    joiners = (spec.feedback.joiners.count * spec.feedback.joiners.num_cpus
               if spec.feedback is not None else 0.0)
    return math.ceil(most * workers.num_cpus + replicas + joiners)
