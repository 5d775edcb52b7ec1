"""Size the cluster from what the pipeline asks Ray for and the cluster description.

One plan feeds both renderers (KubeRay and `ray up`), so they always agree on the numbers.
The head reserves no CPUs (it runs the driver), so the worker groups hold every actor: source
workers and Serve replicas that need no GPU on the CPU group; those that ask for GPUs (or an
accelerator type) on a GPU group, rendered when anything asks for one or when
``gpu_workers.gpus_per_node`` is set. Each group is sized three times, for the fewest actors
that may run (its ``minReplicas``), the number at start (``replicas``) and the most
(``maxReplicas``); a description's own bounds win.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from streaminfer.cluster.bundle import PipelineBundle
from streaminfer.cluster.demand import Demand, accelerator_type, pipeline_demands
from streaminfer.cluster.packing import NodeShape, NoRoom, Packing, pack
from streaminfer.cluster.sizing_errors import no_room_message
from streaminfer.cluster.spec import ClusterSpec
from streaminfer.errors import ConfigError

GPU_PROVIDERS = ("CUDAExecutionProvider", "TensorrtExecutionProvider")
# Environment of GPU nodes. In the Ray this project runs (2.60; the default changed in
# ray-project/ray#62492) an actor given no GPU still sees every GPU of its node: Ray no longer
# empties CUDA_VISIBLE_DEVICES for it. With this Ray empties it again, so `providers: auto`
# picks CUDA only in actors Ray gave a GPU (serve.num_gpus, workers.num_gpus) and the others
# stay on the CPU instead of crowding the GPUs.
GPU_NODE_ENV = {"RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO": "1"}
LEVELS = ("floor", "start", "ceiling")


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
    accelerator_type: str | None = None

    @property
    def custom_resources(self) -> dict[str, int]:
        """Ray resources its nodes declare beyond CPU and GPU: ``accelerator_type:<TYPE>``,
        which Ray gives a node with that GPU and asks for when an actor names the type (the
        autoscaler reads it to know which group serves such an actor)."""
        if self.accelerator_type is None:
            return {}
        return {f"accelerator_type:{self.accelerator_type}": 1}


@dataclass(frozen=True)
class ClusterPlan:
    """The whole cluster: names, head, the CPU group and the GPU group if any."""

    name: str
    namespace: str
    head_cpus: int
    head_memory: str
    cpu: GroupPlan
    gpu: GroupPlan | None
    gpu_asked: bool = False  # whether anything in the pipeline asks for a GPU node
    spilled: int = 0  # CPU-only actors placed on GPU nodes at most (cpu_workers.max_replicas)

    @property
    def groups(self) -> list[GroupPlan]:
        return [self.cpu] if self.gpu is None else [self.cpu, self.gpu]

    @property
    def autoscaling(self) -> bool:
        """Whether any group may change size (then the Ray autoscaler is switched on)."""
        return any(g.min_replicas != g.max_replicas for g in self.groups)


def plan_cluster(bundle: PipelineBundle, cluster: ClusterSpec) -> ClusterPlan:
    """Size the cluster; a description that cannot hold the pipeline is a ConfigError."""
    spec = bundle.spec
    name = cluster.name or spec.name
    if len(name) > 50:
        raise ConfigError(
            f"the pipeline name {spec.name!r} is longer than the 50 characters Kubernetes "
            "names allow here; set name in the cluster description"
        )
    demands = pipeline_demands(bundle)
    accel = accelerator_type(demands)
    gpus_per_node = _gpus_per_node(bundle, demands, cluster)
    cpu = cluster.cpu_workers
    cpu_shape = NodeShape(cpus=cpu.cpus, gpus=0, most=cpu.max_replicas)
    gpu_shape = None
    if gpus_per_node:
        gpu_shape = NodeShape(cpus=cluster.gpu_workers.cpus, gpus=gpus_per_node,
                              most=cluster.gpu_workers.max_replicas)
    packings = {level: _pack(demands, level, cpu_shape, gpu_shape) for level in LEVELS}
    low, high, start = _bounds([packings[lv].cpu_nodes for lv in LEVELS],
                               cpu.min_replicas, cpu.max_replicas)
    cpu_group = GroupPlan(
        name="cpu-workers", image=cluster.image, cpus=cpu.cpus, memory=cpu.memory, gpus=0,
        min_replicas=low, max_replicas=high, replicas=start,
    )
    gpu_group = None
    if gpu_shape is not None:
        gpu = cluster.gpu_workers
        needs = [max(1, packings[lv].gpu_nodes) for lv in LEVELS]  # at least one GPU node
        low, high, start = _bounds(needs, gpu.min_replicas, gpu.max_replicas)
        gpu_group = GroupPlan(
            name="gpu-workers", image=cluster.gpu_image, cpus=gpu.cpus, memory=gpu.memory,
            gpus=gpu_shape.gpus, min_replicas=low, max_replicas=high, replicas=start,
            accelerator_type=accel,
        )
    return ClusterPlan(
        name=name, namespace=cluster.namespace, head_cpus=cluster.head.cpus,
        head_memory=cluster.head.memory, cpu=cpu_group, gpu=gpu_group,
        gpu_asked=any(d.on_gpu_nodes for d in demands),
        spilled=packings["ceiling"].spilled,
    )


def _bounds(needs: list[int], low: int | None, high: int | None) -> tuple[int, int, int]:
    """(minReplicas, maxReplicas, replicas) from the need at floor, start and ceiling."""
    floor, start, ceiling = needs
    top = high if high is not None else max(low or 0, ceiling)
    bottom = low if low is not None else min(floor, top)
    return bottom, top, min(max(start, bottom), top)


def _gpus_per_node(bundle: PipelineBundle, demands: list[Demand], cluster: ClusterSpec) -> int:
    """GPUs of one GPU node: the description's, else the most one actor asks for (at least
    one) when anything asks for a GPU node, else 0 (no GPU group)."""
    asked = cluster.gpu_workers.gpus_per_node
    gpu_demands = [d for d in demands if d.on_gpu_nodes]
    if not gpu_demands:
        if not asked:
            _gpu_providers_need_gpus(bundle)
        return asked or 0
    if asked == 0:
        fields = ", ".join(_asks(d) for d in gpu_demands)
        raise ConfigError(
            f"{bundle.path}: the pipeline asks for GPU nodes ({fields}) but "
            "gpu_workers.gpus_per_node is 0 (or --gpus-per-node 0); give it the GPUs of one "
            "node, or leave it unset to size it from the pipeline"
        )
    return asked if asked is not None else max(1, *(math.ceil(d.gpus) for d in gpu_demands))


def _gpu_providers_need_gpus(bundle: PipelineBundle) -> None:
    """A model whose providers name a GPU one cannot run on a cluster without GPUs."""
    for ref, model in zip(bundle.models, bundle.spec.model_specs, strict=True):
        wanted = [p for p in model.providers if p in GPU_PROVIDERS] if isinstance(
            model.providers, tuple) else []
        if wanted:
            setting = f"{ref.field}.serve.num_gpus" if model.serving == "serve" else (
                "workers.num_gpus")
            raise ConfigError(
                f"{bundle.path}: {ref.field}.providers asks for {', '.join(wanted)} but the "
                f"cluster has no GPU workers; set {setting} so that Ray gives it a GPU, or pass "
                "--gpus-per-node N (or set gpu_workers.gpus_per_node in the cluster description)"
            )


def _asks(demand: Demand) -> str:
    if demand.gpus:
        return f"{demand.field}.num_gpus {demand.gpus:g}"
    return f"{demand.field}.accelerator_type {demand.accelerator_type}"


def _pack(
    demands: list[Demand], level: str, cpu: NodeShape, gpu: NodeShape | None
) -> Packing:
    try:
        return pack([(d, d.count(level)) for d in demands], cpu, gpu)
    except NoRoom as full:
        raise ConfigError(no_room_message(full, demands, level, cpu, gpu)) from None
