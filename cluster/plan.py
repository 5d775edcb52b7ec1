"""Size the cluster from the pipeline's workers and the cluster description.

One plan feeds both renderers (KubeRay and `ray up`), so they always agree on the numbers.
Source workers are Ray actors that each reserve ``workers.num_cpus`` CPUs; the head reserves
none (it runs the driver), so the worker groups must hold all of them: by default the CPU
group alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from streaminfer.cluster.spec import ClusterSpec
from streaminfer.errors import ConfigError
from streaminfer.pipelines.spec import PipelineSpec

GPU_PROVIDERS = ("CUDAExecutionProvider", "TensorrtExecutionProvider")


@dataclass(frozen=True)
class GroupPlan:
    """One worker group: pod size and replica bounds."""

    name: str
    image: str
    cpus: int
    memory: str
    gpus: int
    min_replicas: int
    max_replicas: int
    replicas: int


@dataclass(frozen=True)
class ClusterPlan:
    """The whole cluster: names, head, the CPU group and the GPU group if any."""

    name: str
    namespace: str
    head_cpus: int
    head_memory: str
    cpu: GroupPlan
    gpu: GroupPlan | None

    @property
    def groups(self) -> list[GroupPlan]:
        return [self.cpu] if self.gpu is None else [self.cpu, self.gpu]

    @property
    def autoscaling(self) -> bool:
        """Whether any group may change size (then the Ray autoscaler is switched on)."""
        return any(g.min_replicas != g.max_replicas for g in self.groups)


def workers_per_pod(spec: PipelineSpec, cpus_per_pod: int) -> int:
    """How many of the pipeline's source workers one pod of ``cpus_per_pod`` CPUs holds."""
    num_cpus = spec.workers.num_cpus
    if num_cpus == 0:
        return spec.workers.count
    return math.floor(cpus_per_pod / num_cpus + 1e-9)


def pods_needed(spec: PipelineSpec, cpus_per_pod: int) -> int:
    """Worker pods of ``cpus_per_pod`` CPUs that hold all of the pipeline's source workers."""
    per_pod = workers_per_pod(spec, cpus_per_pod)
    if per_pod == 0:
        raise ConfigError(
            f"workers.num_cpus ({spec.workers.num_cpus:g}) is more than one CPU worker pod has "
            f"(cpu_workers.cpus = {cpus_per_pod}); raise cpu_workers.cpus in the cluster "
            "description"
        )
    return math.ceil(spec.workers.count / per_pod)


def plan_cluster(spec: PipelineSpec, cluster: ClusterSpec) -> ClusterPlan:
    """Size the cluster; a description that cannot hold the pipeline is a ConfigError.

    The CPU group defaults to as many pods as the source workers need. GPU pods have CPUs too:
    with a GPU group, ``cpu_workers.max_replicas: 0`` puts every source worker on GPU nodes.
    """
    name = cluster.name or spec.name
    if len(name) > 50:
        raise ConfigError(
            f"the pipeline name {spec.name!r} is longer than the 50 characters Kubernetes "
            "names allow here; set name in the cluster description"
        )
    gpu_group = _gpu_group(spec, cluster)
    gpu_holds = (
        gpu_group.max_replicas * workers_per_pod(spec, gpu_group.cpus) if gpu_group else 0
    )
    cpu = cluster.cpu_workers
    if cpu.max_replicas is None or gpu_group is None:
        need = pods_needed(spec, cpu.cpus)
    else:  # the GPU pods may hold the workers: a CPU pod too small for one is no error
        per_pod = workers_per_pod(spec, cpu.cpus)
        need = math.ceil(spec.workers.count / per_pod) if per_pod else 0
    if cpu.max_replicas is not None:
        capacity = cpu.max_replicas * workers_per_pod(spec, cpu.cpus) + gpu_holds
        if capacity < spec.workers.count:
            on_gpus = f" and the GPU pods hold {gpu_holds}" if gpu_group else ""
            raise ConfigError(
                f"the pipeline's {spec.workers.count} workers x {spec.workers.num_cpus:g} CPUs "
                f"need {need} CPU worker pod(s) of {cpu.cpus} CPUs, but cpu_workers.max_replicas "
                f"is {cpu.max_replicas}{on_gpus}; raise it, or cpu_workers.cpus"
            )
    # min <= max when both are given (ClusterSpec checks it); a missing bound follows the need.
    high = cpu.max_replicas if cpu.max_replicas is not None else max(cpu.min_replicas or 0, need)
    low = cpu.min_replicas if cpu.min_replicas is not None else min(need, high)
    cpu_group = GroupPlan(
        name="cpu-workers", image=cluster.image, cpus=cpu.cpus, memory=cpu.memory, gpus=0,
        min_replicas=low, max_replicas=high, replicas=min(max(need, low), high),
    )
    return ClusterPlan(
        name=name, namespace=cluster.namespace, head_cpus=cluster.head.cpus,
        head_memory=cluster.head.memory, cpu=cpu_group, gpu=gpu_group,
    )


def _gpu_group(spec: PipelineSpec, cluster: ClusterSpec) -> GroupPlan | None:
    gpu = cluster.gpu_workers
    providers = spec.model.providers
    wants_gpu = providers != "auto" and any(p in GPU_PROVIDERS for p in providers)
    if wants_gpu and gpu.gpus_per_node == 0:
        raise ConfigError(
            f"model.providers asks for {', '.join(p for p in providers if p in GPU_PROVIDERS)} "
            "but the cluster has no GPU workers; pass --gpus-per-node N (or set "
            "gpu_workers.gpus_per_node in the cluster description)"
        )
    if gpu.gpus_per_node == 0:
        return None
    return GroupPlan(
        name="gpu-workers", image=cluster.gpu_image, cpus=gpu.cpus, memory=gpu.memory,
        gpus=gpu.gpus_per_node, min_replicas=gpu.min_replicas, max_replicas=gpu.max_replicas,
        replicas=gpu.min_replicas,
    )
