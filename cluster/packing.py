"""Pack actors onto nodes as Ray's scheduler would fit them: how many nodes of each group.

Quantities are counted in Ray's own unit, 1/10000 of a CPU or GPU, so 3 x 0.3 CPUs fit one
CPU exactly. A GPU node has whole GPUs: an actor asking for a fraction of a GPU (0.25) takes
it from one GPU that still has that much free, so four such actors share one GPU; an actor
asking for whole GPUs (2) takes that many free GPUs of one node. Actors that need a GPU node
go first, largest first; then the others, largest first, onto CPU nodes, and, where
``spill`` allows it (CPU nodes capped and a GPU group present), onto the GPU nodes' spare CPUs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from streaminfer.cluster.demand import Demand

UNIT = 10_000  # Ray's resource precision is 0.0001


def units(quantity: float) -> int:
    return round(quantity * UNIT)


@dataclass(frozen=True)
class NodeShape:
    """What one node of a group offers Ray, and how many such nodes there may be at most."""

    cpus: int
    gpus: int
    most: int | None  # None: as many as needed


@dataclass
class _Node:
    cpus: int  # free, in units
    gpus: list[int] = field(default_factory=list)  # free per GPU, in units

    @classmethod
    def of(cls, shape: NodeShape) -> _Node:
        return cls(cpus=units(shape.cpus), gpus=[UNIT] * shape.gpus)

    def place(self, cpus: int, gpus: int) -> bool:
        """Take the resources if they fit; say whether they did."""
        if cpus > self.cpus:
            return False
        if gpus == 0:
            chosen: list[int] = []
        elif gpus <= UNIT:  # a share of one GPU: the fullest GPU that still has room
            fitting = [i for i, free in enumerate(self.gpus) if free >= gpus]
            if not fitting:
                return False
            chosen = [min(fitting, key=lambda i: self.gpus[i])]
        else:  # whole GPUs (the demand checked that it is a whole number)
            free = [i for i, left in enumerate(self.gpus) if left == UNIT]
            if len(free) < gpus // UNIT:
                return False
            chosen = free[: gpus // UNIT]
        self.cpus -= cpus
        for i in chosen:
            self.gpus[i] -= min(gpus, UNIT)
        return True


class NoRoom(Exception):
    """An actor fits no node: ``too_big`` when not even an empty node holds it, else the
    group's ``most`` nodes are full."""

    def __init__(self, demand: Demand, group: str, *, too_big: bool) -> None:
        super().__init__(f"{demand.what} does not fit the {group} group")
        self.demand, self.group, self.too_big = demand, group, too_big


@dataclass(frozen=True)
class Packing:
    """Nodes needed per group, and how many CPU-only actors ended up on GPU nodes."""

    cpu_nodes: int
    gpu_nodes: int
    spilled: int


def pack(
    demands: list[tuple[Demand, int]], cpu: NodeShape, gpu: NodeShape | None
) -> Packing:
    """Place ``count`` actors of each demand; raises NoRoom for one that fits nowhere."""
    cpu_nodes: list[_Node] = []
    gpu_nodes: list[_Node] = []
    actors = [d for d, count in demands for _ in range(count)]
    actors.sort(key=lambda d: (not d.on_gpu_nodes, -d.gpus, -d.cpus))
    spill = gpu is not None and cpu.most is not None
    spilled = 0
    for demand in actors:
        need = (units(demand.cpus), units(demand.gpus))
        if demand.on_gpu_nodes:
            assert gpu is not None, "a GPU demand without a GPU group"
            if not _place(need, gpu_nodes, gpu):
                raise NoRoom(demand, "gpu", too_big=not _Node.of(gpu).place(*need))
            continue
        if _place(need, cpu_nodes, cpu):
            continue
        if spill and gpu is not None and _place(need, gpu_nodes, gpu):
            spilled += 1
            continue
        too_big = not _Node.of(cpu).place(*need) and not (
            spill and gpu is not None and _Node.of(gpu).place(*need)
        )
        raise NoRoom(demand, "cpu", too_big=too_big)
    return Packing(cpu_nodes=len(cpu_nodes), gpu_nodes=len(gpu_nodes), spilled=spilled)


def _place(need: tuple[int, int], nodes: list[_Node], shape: NodeShape) -> bool:
    """First fit over the open nodes, else a new node if the group may grow and it fits."""
    if any(node.place(*need) for node in nodes):
        return True
    if shape.most is not None and len(nodes) >= shape.most:
        return False
    fresh = _Node.of(shape)
    if fresh.place(*need):
        nodes.append(fresh)
        return True
    return False
