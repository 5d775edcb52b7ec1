"""Provider choice inside Ray: an actor that asked for no GPU must not use one."""

from __future__ import annotations

import pytest
import ray

from streaminfer.operators.providers import CPU, ray_gpus, select_providers

pytestmark = pytest.mark.integration


@ray.remote(num_cpus=0.1, num_gpus=0)
def _inside_an_actor_without_gpus() -> tuple[list[str] | None, list[str], str]:
    from streaminfer.operators.providers import cuda_status

    choice = select_providers("auto")
    return ray_gpus(), choice.providers, cuda_status().reason


def test_a_ray_task_without_gpus_runs_on_the_cpu_and_says_why(ray_session: None) -> None:
    gpus, providers, reason = ray.get(_inside_an_actor_without_gpus.remote())
    assert gpus == []
    assert providers == [CPU]
    assert reason  # one line saying why CUDA is not used (no driver here, or no GPU given)


def test_the_driver_is_not_a_ray_worker(ray_session: None) -> None:
    assert ray_gpus() is None
