"""Packing actors onto nodes: CPU shares, fractional and whole GPUs, caps and spilling."""

from __future__ import annotations

import pytest

from streaminfer.cluster.demand import Demand
from streaminfer.cluster.packing import NodeShape, NoRoom, Packing, pack


def actors(cpus: float, gpus: float = 0.0, accelerator: str | None = None) -> Demand:
    return Demand(what="actor(s)", field="x", cpus=cpus, gpus=gpus,
                  accelerator_type=accelerator, floor=1, start=1, ceiling=1)


def cpu_pods(cpus: int, most: int | None = None) -> NodeShape:
    return NodeShape(cpus=cpus, gpus=0, most=most)


def gpu_pods(gpus: int, cpus: int = 4, most: int | None = None) -> NodeShape:
    return NodeShape(cpus=cpus, gpus=gpus, most=most)


@pytest.mark.parametrize(("count", "num_cpus", "pod_cpus", "pods"), [
    (3, 1.0, 2, 2),    # two per pod
    (4, 1.0, 2, 2),
    (2, 0.5, 2, 1),    # four per pod
    (5, 0.5, 2, 2),
    (3, 1.5, 2, 3),    # one per pod: 1.5 + 1.5 > 2
    (3, 0.3, 1, 1),    # 0.3 x 3 = 0.9 fits (counted in Ray's 1/10000 units, no float drift)
    (10, 0.1, 1, 1),   # 10 x 0.1 is exactly one CPU
    (7, 0.0, 2, 1),    # no CPU reserved: one pod still hosts them
    (1, 2.0, 2, 1),
    (0, 1.0, 2, 0),    # nothing to place: no pod
])
def test_cpu_pods_needed(count: int, num_cpus: float, pod_cpus: int, pods: int) -> None:
    assert pack([(actors(num_cpus), count)], cpu_pods(pod_cpus), None) == Packing(pods, 0, 0)


def test_mixed_cpu_shares_pack_largest_first() -> None:
    # 1.5 + 0.5 | 1 + 1 | 0.1: first fit, largest first
    demands = [(actors(1.0), 2), (actors(1.5), 1), (actors(0.5), 1), (actors(0.1), 1)]
    assert pack(demands, cpu_pods(2), None).cpu_nodes == 3


@pytest.mark.parametrize(("replicas", "nodes"), [(4, 1), (5, 2), (8, 2), (9, 3)])
def test_four_quarter_gpu_replicas_share_one_gpu(replicas: int, nodes: int) -> None:
    packing = pack([(actors(1.0, 0.25), replicas)], cpu_pods(2), gpu_pods(1, cpus=4))
    assert packing == Packing(cpu_nodes=0, gpu_nodes=nodes, spilled=0)


def test_cpus_of_a_gpu_node_limit_its_replicas_too() -> None:
    # 0.25 GPU each would let four share the GPU, but 2 CPUs each: two per 4-CPU node
    assert pack([(actors(2.0, 0.25), 4)], cpu_pods(2), gpu_pods(1, cpus=4)).gpu_nodes == 2


def test_fractions_of_different_actors_fill_one_gpu() -> None:
    demands = [(actors(0.0, 0.5), 1), (actors(0.0, 0.25), 2)]
    assert pack(demands, cpu_pods(2), gpu_pods(1)).gpu_nodes == 1
    over = [(actors(0.0, 0.5), 2), (actors(0.0, 0.25), 1)]
    assert pack(over, cpu_pods(2), gpu_pods(1)).gpu_nodes == 2
    assert pack(over, cpu_pods(2), gpu_pods(2)).gpu_nodes == 1


def test_a_fraction_never_spans_two_gpus() -> None:
    # 0.6 + 0.6 is 1.2 GPUs, but each must come from one GPU: two GPUs, not one and a bit
    assert pack([(actors(0.0, 0.6), 2)], cpu_pods(2), gpu_pods(1)).gpu_nodes == 2
    assert pack([(actors(0.0, 0.6), 2)], cpu_pods(2), gpu_pods(2)).gpu_nodes == 1


def test_whole_gpus_come_from_free_gpus_of_one_node() -> None:
    assert pack([(actors(1.0, 2.0), 2)], cpu_pods(2), gpu_pods(2)).gpu_nodes == 2
    assert pack([(actors(1.0, 2.0), 2)], cpu_pods(2), gpu_pods(4)).gpu_nodes == 1
    # the 2-GPU actor goes first and takes both GPUs; the half GPU needs another node
    mixed = [(actors(0.0, 0.5), 1), (actors(0.0, 2.0), 1)]
    assert pack(mixed, cpu_pods(2), gpu_pods(2)).gpu_nodes == 2
    assert pack(mixed, cpu_pods(2), gpu_pods(3)).gpu_nodes == 1


def test_an_accelerator_type_alone_needs_a_gpu_node() -> None:
    packing = pack([(actors(1.0, 0.0, "L4"), 2), (actors(1.0), 1)], cpu_pods(2), gpu_pods(1))
    assert packing == Packing(cpu_nodes=1, gpu_nodes=1, spilled=0)


def test_cpu_actors_spill_onto_gpu_nodes_only_when_cpu_nodes_are_capped() -> None:
    demands = [(actors(1.0, 0.5), 1), (actors(1.0), 5)]
    assert pack(demands, cpu_pods(2), gpu_pods(1, cpus=4)) == Packing(3, 1, 0)
    capped = pack(demands, cpu_pods(2, most=1), gpu_pods(1, cpus=4))
    assert capped == Packing(cpu_nodes=1, gpu_nodes=1, spilled=3)  # 3 CPUs left on the GPU node
    more = pack([(actors(1.0), 6)], cpu_pods(2, most=0), gpu_pods(1, cpus=4))
    assert more == Packing(cpu_nodes=0, gpu_nodes=2, spilled=6)


def test_a_full_group_and_a_too_big_actor_are_told_apart() -> None:
    with pytest.raises(NoRoom) as full:
        pack([(actors(1.0), 5)], cpu_pods(2, most=2), None)
    assert (full.value.group, full.value.too_big) == ("cpu", False)
    with pytest.raises(NoRoom) as big:
        pack([(actors(3.0), 1)], cpu_pods(2), None)
    assert (big.value.group, big.value.too_big) == ("cpu", True)
    with pytest.raises(NoRoom) as gpus:
        pack([(actors(1.0, 2.0), 1)], cpu_pods(2), gpu_pods(1))
    assert (gpus.value.group, gpus.value.too_big) == ("gpu", True)
    with pytest.raises(NoRoom) as capped:
        pack([(actors(1.0, 1.0), 3)], cpu_pods(2), gpu_pods(1, most=2))
    assert (capped.value.group, capped.value.too_big) == ("gpu", False)
    # too big for a CPU pod, but capped CPU nodes let it onto a GPU node that holds it
    assert pack([(actors(3.0), 1)], cpu_pods(2, most=0), gpu_pods(1, cpus=4)).spilled == 1
