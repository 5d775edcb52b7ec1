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
    # Ray gave the task no GPU, and the reason says so (whatever the machine has)
    assert reason in {"no GPU assigned (CUDA_VISIBLE_DEVICES is empty)",
                      "Ray gave this actor no GPU (num_gpus is 0)"}, reason


def test_the_driver_is_not_a_ray_worker(ray_session: None) -> None:
    assert ray_gpus() is None
