"""Provider choice inside Ray: an actor that asked for no GPU must not use one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import ray

from streaminfer.operators.providers import CPU
from streaminfer.pipelines.runtime.gpus import ray_gpus

pytestmark = pytest.mark.integration


@ray.remote(num_cpus=0.1, num_gpus=0)
def _load_inside_a_task_without_gpus(path: str) -> tuple[list[str] | None, list[str], str]:
    import os

    from streaminfer.operators.model_runner import read_model_file
    from streaminfer.operators.providers import cuda_status
    from streaminfer.pipelines.runtime.assembly import load_model
    from streaminfer.pipelines.spec.model_spec import ModelSpec

    model = ModelSpec.model_validate({"path": path})
    loaded = load_model(model, read_model_file(path))
    assert os.environ["CUDA_VISIBLE_DEVICES"] == ""
    return ray_gpus(), loaded.info.providers, cuda_status().reason


def test_a_model_loaded_in_a_task_without_gpus_runs_on_the_cpu_and_says_why(
    ray_session: None, model_factory: Callable[[str], Path],
) -> None:
    gpus, providers, reason = ray.get(
        _load_inside_a_task_without_gpus.remote(str(model_factory("breast_cancer"))))
    assert gpus == []
    assert list(providers) == [CPU]
    assert reason == "no GPU assigned (CUDA_VISIBLE_DEVICES is empty)", reason


def test_the_driver_is_not_a_ray_worker(ray_session: None) -> None:
    assert ray_gpus() is None
