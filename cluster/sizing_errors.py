"""What to tell a user whose cluster description cannot hold the pipeline: which actors, how
many pods they need, and which number to raise."""

from __future__ import annotations

from streaminfer.cluster.demand import Demand
from streaminfer.cluster.packing import NodeShape, NoRoom, pack


def no_room_message(
    full: NoRoom, demands: list[Demand], level: str, cpu: NodeShape, gpu: NodeShape | None
) -> str:
    """The message for ``full``, raised while packing ``demands`` at ``level``."""
    d = full.demand
    if full.too_big and full.group == "cpu":
        return (f"{d.field}.num_cpus ({d.cpus:g}) is more than one CPU worker pod has "
                f"(cpu_workers.cpus = {cpu.cpus}); raise cpu_workers.cpus in the cluster "
                "description")
    if full.too_big:
        assert gpu is not None
        if d.gpus > gpu.gpus:
            return (f"{d.field}.num_gpus ({d.gpus:g}) is more than one GPU worker pod has "
                    f"(gpu_workers.gpus_per_node = {gpu.gpus}); raise gpu_workers.gpus_per_node")
        return (f"{d.field}.num_cpus ({d.cpus:g}) is more than one GPU worker pod has "
                f"(gpu_workers.cpus = {gpu.cpus}); raise gpu_workers.cpus")
    on_gpu = full.group == "gpu"
    group = [x for x in demands if x.on_gpu_nodes == on_gpu and x.count(level)]
    wanted = ", ".join(_amount(x, level, gpus=on_gpu) for x in group)
    if on_gpu:
        assert gpu is not None
        # without the cap (every actor here fits an empty GPU pod: none was too big)
        need = pack([(x, x.count(level)) for x in group], cpu,
                    NodeShape(gpu.cpus, gpu.gpus, None)).gpu_nodes
        return (f"{wanted} need {need} GPU worker pod(s) of {gpu.gpus} GPU(s) and "
                f"{gpu.cpus} CPUs, but gpu_workers.max_replicas is {gpu.most}; raise it, or "
                "gpu_workers.gpus_per_node and gpu_workers.cpus")
    fitting = [(x, x.count(level)) for x in group if x.cpus <= cpu.cpus]
    need = pack(fitting, NodeShape(cpu.cpus, 0, None), None).cpu_nodes
    spill = (f" and the GPU pods (gpu_workers.max_replicas = {gpu.most}) have no room left"
             if gpu is not None and gpu.most is not None else "")
    return (f"{wanted} need {need} CPU worker pod(s) of {cpu.cpus} CPUs, but "
            f"cpu_workers.max_replicas is {cpu.most}{spill}; raise it, or cpu_workers.cpus")


def _amount(d: Demand, level: str, *, gpus: bool) -> str:
    each = f"{d.cpus:g} CPU" + (f" + {d.gpus:g} GPU" if gpus and d.gpus else "")
    return f"{d.count(level)} {d.what} x {each}"
