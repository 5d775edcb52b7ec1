"""Sizing: CPU worker pods from workers.count x num_cpus, GPU group only when asked."""

from __future__ import annotations

from typing import Any

import pytest

from streaminfer.cluster.plan import plan_cluster, pods_needed
from streaminfer.cluster.spec import ClusterSpec
from streaminfer.errors import ConfigError
from streaminfer.pipelines.spec import PipelineSpec


def pipeline(count: int = 3, num_cpus: float = 1.0, **model: Any) -> PipelineSpec:
    return PipelineSpec.model_validate({
        "name": "scorer",
        "source": {"topics": ["events"], "group_id": "g", "features": ["a"]},
        "model": {"path": "m.onnx", **model},
        "sink": {"predictions_topic": "p", "dead_letter_topic": "d"},
        "workers": {"count": count, "num_cpus": num_cpus},
    })


def cluster(**data: Any) -> ClusterSpec:
    return ClusterSpec.model_validate(data)


@pytest.mark.parametrize(("count", "num_cpus", "pod_cpus", "pods"), [
    (3, 1.0, 2, 2),    # two per pod
    (4, 1.0, 2, 2),
    (2, 0.5, 2, 1),    # four per pod
    (5, 0.5, 2, 2),
    (3, 1.5, 2, 3),    # one per pod: 1.5 + 1.5 > 2
    (3, 0.3, 1, 1),    # 0.3 x 3 = 0.9 fits
    (7, 0.0, 2, 1),    # no CPU reserved: one pod
    (1, 2.0, 2, 1),
])
def test_pods_needed(count: int, num_cpus: float, pod_cpus: int, pods: int) -> None:
    assert pods_needed(pipeline(count, num_cpus), pod_cpus) == pods


def test_a_worker_bigger_than_a_pod_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"workers.num_cpus \(3\) is more than .* = 2\)"):
        pods_needed(pipeline(1, 3.0), 2)


def test_defaults_size_the_cpu_group_to_the_workers() -> None:
    plan = plan_cluster(pipeline(count=5, num_cpus=1), cluster())
    assert plan.name == "scorer"
    assert (plan.cpu.cpus, plan.cpu.min_replicas, plan.cpu.max_replicas, plan.cpu.replicas) == (
        2, 3, 3, 3
    )
    assert plan.gpu is None
    assert not plan.autoscaling


def test_explicit_bounds_enable_autoscaling() -> None:
    plan = plan_cluster(pipeline(count=2), cluster(cpu_workers={"min_replicas": 0,
                                                                "max_replicas": 5}))
    assert (plan.cpu.min_replicas, plan.cpu.max_replicas, plan.cpu.replicas) == (0, 5, 1)
    assert plan.autoscaling


def test_a_ceiling_below_the_need_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"need 3 CPU worker pod\(s\) .*max_replicas is 2;"):
        plan_cluster(pipeline(count=6), cluster(cpu_workers={"max_replicas": 2}))


def test_min_replicas_above_the_need_raises_the_replicas() -> None:
    plan = plan_cluster(pipeline(count=1), cluster(cpu_workers={"min_replicas": 4}))
    assert (plan.cpu.min_replicas, plan.cpu.max_replicas, plan.cpu.replicas) == (4, 4, 4)


def test_gpu_group_when_gpus_per_node_is_set() -> None:
    plan = plan_cluster(pipeline(), cluster(gpu_image="gpu:1", gpu_workers={
        "gpus_per_node": 2, "min_replicas": 1, "max_replicas": 3, "cpus": 8}))
    assert plan.gpu is not None
    assert (plan.gpu.gpus, plan.gpu.cpus, plan.gpu.image) == (2, 8, "gpu:1")
    assert (plan.gpu.min_replicas, plan.gpu.max_replicas) == (1, 3)
    assert plan.autoscaling
    assert [g.name for g in plan.groups] == ["cpu-workers", "gpu-workers"]


def test_an_explicit_cuda_provider_without_gpus_is_refused() -> None:
    spec = pipeline(providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
    with pytest.raises(ConfigError, match=r"CUDAExecutionProvider .* --gpus-per-node"):
        plan_cluster(spec, cluster())
    assert plan_cluster(spec, cluster(gpu_workers={"gpus_per_node": 1})).gpu is not None


def test_cluster_name_overrides_and_long_pipeline_names_are_refused() -> None:
    assert plan_cluster(pipeline(), cluster(name="prod")).name == "prod"
    long = pipeline().model_copy(update={"name": "p" * 55})
    with pytest.raises(ConfigError, match="set name in the cluster description"):
        plan_cluster(long, cluster())
    assert plan_cluster(long, cluster(name="short")).name == "short"


def test_gpu_pods_may_hold_every_source_worker() -> None:
    plan = plan_cluster(pipeline(count=6, num_cpus=2), cluster(
        cpu_workers={"max_replicas": 0},
        gpu_workers={"gpus_per_node": 1, "cpus": 4, "min_replicas": 1, "max_replicas": 3}))
    assert (plan.cpu.min_replicas, plan.cpu.max_replicas, plan.cpu.replicas) == (0, 0, 0)
    assert plan.gpu is not None and plan.gpu.max_replicas == 3  # 3 pods x 2 workers


def test_too_few_gpu_pods_for_a_gpu_only_placement_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"max_replicas is 0 and the GPU pods hold 4;"):
        plan_cluster(pipeline(count=6, num_cpus=2), cluster(
            cpu_workers={"max_replicas": 0},
            gpu_workers={"gpus_per_node": 1, "cpus": 4, "max_replicas": 2}))
    with pytest.raises(ConfigError, match=r"max_replicas is 0; raise it"):
        plan_cluster(pipeline(count=1), cluster(cpu_workers={"max_replicas": 0}))


def test_workers_too_big_for_cpu_pods_may_still_fit_gpu_pods() -> None:
    spec = pipeline(count=2, num_cpus=3)
    with pytest.raises(ConfigError, match="more than one CPU worker pod has"):
        plan_cluster(spec, cluster(gpu_workers={"gpus_per_node": 1, "cpus": 8}))
    plan = plan_cluster(spec, cluster(cpu_workers={"max_replicas": 0},
                                      gpu_workers={"gpus_per_node": 1, "cpus": 8}))
    assert plan.cpu.replicas == 0
