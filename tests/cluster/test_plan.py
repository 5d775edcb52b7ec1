"""Sizing: CPU pods from workers and CPU replicas, a GPU group from what asks for GPUs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from streaminfer.cluster.bundle import PipelineBundle
from streaminfer.cluster.demand import HTTP_INGRESS_CPUS, pipeline_demands
from streaminfer.cluster.plan import ClusterPlan, GroupPlan, plan_cluster
from streaminfer.cluster.spec import ClusterSpec
from streaminfer.errors import ConfigError
from streaminfer.pipelines.spec.schema import PipelineSpec


def bundle(count: int = 3, num_cpus: float = 1.0, *, workers: dict[str, Any] | None = None,
           models: list[dict[str, Any]] | None = None, routing: dict[str, Any] | None = None,
           http: dict[str, Any] | None = None, **model: Any) -> PipelineBundle:
    """A bundle of a pipeline mapping (planning reads no file); ``model`` keys go to its one
    model unless ``models`` lists several."""
    data: dict[str, Any] = {
        "name": "scorer",
        "source": {"topics": ["events"], "group_id": "g", "features": ["a"]},
        "sink": {"predictions_topic": "p", "dead_letter_topic": "d"},
        "workers": {"count": count, "num_cpus": num_cpus, **(workers or {})},
    }
    if models is None:
        data["model"] = {"path": "m.onnx", **model}
    else:
        data["models"] = models
        data["routing"] = routing or {"weights": {m["name"]: 1 for m in models}}
    if http is not None:
        data["http"] = http
    spec = PipelineSpec.model_validate(data)
    return PipelineBundle(path=Path("/p/pipeline.yaml"), text="", spec=spec, declared=spec)


def served(**serve: Any) -> dict[str, Any]:
    """model keys for a served model with these serve settings."""
    return {"serving": "serve", "serve": serve}


def cluster(**data: Any) -> ClusterSpec:
    return ClusterSpec.model_validate(data)


def bounds(group: GroupPlan | None) -> tuple[int, int, int]:
    assert group is not None
    return group.min_replicas, group.replicas, group.max_replicas


# ---------------------------------------------------------------- source workers on CPU pods


def test_defaults_size_the_cpu_group_to_the_workers() -> None:
    plan = plan_cluster(bundle(count=5, num_cpus=1), cluster())
    assert plan.name == "scorer"
    assert plan.cpu.cpus == 2
    assert bounds(plan.cpu) == (3, 3, 3)
    assert plan.gpu is None
    assert not plan.autoscaling


def test_a_worker_bigger_than_a_pod_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"workers.num_cpus \(3\) is more than .* = 2\)"):
        plan_cluster(bundle(1, 3.0), cluster())


def test_explicit_bounds_enable_autoscaling() -> None:
    plan = plan_cluster(bundle(count=2), cluster(cpu_workers={"min_replicas": 0,
                                                              "max_replicas": 5}))
    assert bounds(plan.cpu) == (0, 1, 5)
    assert plan.autoscaling


def test_a_ceiling_below_the_need_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"6 source worker\(s\) x 1 CPU need 3 CPU worker "
                       r"pod\(s\) of 2 CPUs, but cpu_workers.max_replicas is 2; raise it"):
        plan_cluster(bundle(count=6), cluster(cpu_workers={"max_replicas": 2}))


def test_min_replicas_above_the_need_raises_the_replicas() -> None:
    plan = plan_cluster(bundle(count=1), cluster(cpu_workers={"min_replicas": 4}))
    assert bounds(plan.cpu) == (4, 4, 4)


def test_worker_autoscaling_sizes_the_cpu_group_from_min_to_max_workers() -> None:
    scaled = bundle(count=2, num_cpus=1, workers={
        "autoscale": {"enabled": True, "min_workers": 1, "max_workers": 6}})
    plan = plan_cluster(scaled, cluster())
    assert bounds(plan.cpu) == (1, 1, 3)  # 1 worker .. 2 at start .. 6 on 2-CPU pods
    assert plan.autoscaling
    off = bundle(count=2, num_cpus=1, workers={"autoscale": {"max_workers": 6}})
    assert bounds(plan_cluster(off, cluster()).cpu) == (1, 1, 1)  # disabled: count only


def test_cluster_name_overrides_and_long_pipeline_names_are_refused() -> None:
    assert plan_cluster(bundle(), cluster(name="prod")).name == "prod"
    plain = bundle()
    long = PipelineBundle(path=plain.path, text="", spec=plain.spec.model_copy(
        update={"name": "p" * 55}), declared=plain.declared)
    with pytest.raises(ConfigError, match="set name in the cluster description"):
        plan_cluster(long, cluster())
    assert plan_cluster(long, cluster(name="short")).name == "short"


# ---------------------------------------------------------------- served models


def test_served_replicas_add_their_cpus_to_the_cpu_group() -> None:
    # 2 workers x 1 CPU + 1..3 replicas x 1 CPU on 2-CPU pods: 3 CPUs -> 2 pods, 5 -> 3
    plan = plan_cluster(bundle(count=2, **served(min_replicas=1, max_replicas=3)), cluster())
    assert bounds(plan.cpu) == (2, 2, 3)
    assert plan.autoscaling  # room for Serve's replicas is made by Ray's autoscaler
    colocated = plan_cluster(bundle(count=2), cluster())
    assert bounds(colocated.cpu) == (1, 1, 1)


def test_initial_replicas_size_the_start() -> None:
    spec = bundle(count=1, num_cpus=0,
                  **served(min_replicas=1, initial_replicas=3, max_replicas=4, num_cpus=2))
    assert bounds(plan_cluster(spec, cluster()).cpu) == (1, 3, 4)


def test_the_http_ingress_takes_a_tenth_of_a_cpu() -> None:
    assert HTTP_INGRESS_CPUS == 0.1
    model = served(num_cpus=0)
    without = plan_cluster(bundle(count=2, **model), cluster())
    with_http = plan_cluster(bundle(count=2, http={"enabled": True}, **model), cluster())
    assert bounds(without.cpu) == (1, 1, 1)  # 2 x 1 CPU fill one 2-CPU pod
    assert bounds(with_http.cpu) == (2, 2, 2)  # + 0.1 CPU needs another


def test_every_served_model_counts() -> None:
    models = [{"name": "a", "path": "a.onnx", **served(max_replicas=2)},
              {"name": "b", "path": "b.onnx", **served(num_cpus=2)},
              {"name": "c", "path": "c.onnx"}]  # colocated: runs in the workers
    plan = plan_cluster(bundle(count=1, models=models), cluster(cpu_workers={"cpus": 4}))
    # floor: 1 + 1 + 2 = 4 CPUs -> 1 pod; ceiling: 1 + 2 + 2 = 5 -> 2 pods
    assert bounds(plan.cpu) == (1, 1, 2)
    assert [d.what for d in pipeline_demands(bundle(count=1, models=models))] == [
        "source worker(s)", "replica(s) of a", "replica(s) of b"]


def test_a_replica_bigger_than_a_pod_names_its_field() -> None:
    models = [{"name": "a", "path": "a.onnx"},
              {"name": "b", "path": "b.onnx", **served(num_cpus=3)}]
    with pytest.raises(ConfigError, match=r"models\[1\]\.serve\.num_cpus \(3\) is more than "
                       r"one CPU worker pod has \(cpu_workers.cpus = 2\)"):
        plan_cluster(bundle(models=models), cluster())


def test_a_cpu_ceiling_names_everything_it_must_hold() -> None:
    spec = bundle(count=2, http={"enabled": True}, name="fraud", **served(max_replicas=3))
    with pytest.raises(ConfigError) as caught:
        plan_cluster(spec, cluster(cpu_workers={"max_replicas": 2}))
    assert str(caught.value).startswith(
        "2 source worker(s) x 1 CPU, 3 replica(s) of fraud x 1 CPU, 1 HTTP ingress x 0.1 CPU "
        "need 3 CPU worker pod(s) of 2 CPUs, but cpu_workers.max_replicas is 2; raise it")


# ---------------------------------------------------------------- GPUs


def gpu_plan(spec: PipelineBundle, **data: Any) -> tuple[ClusterPlan, GroupPlan]:
    plan = plan_cluster(spec, cluster(**data))
    assert plan.gpu is not None
    return plan, plan.gpu


@pytest.mark.parametrize(("max_replicas", "gpu_nodes"), [(4, 1), (5, 2), (8, 2)])
def test_quarter_gpu_replicas_share_a_gpu(max_replicas: int, gpu_nodes: int) -> None:
    spec = bundle(**served(max_replicas=max_replicas, num_gpus=0.25))
    plan, gpu = gpu_plan(spec)
    assert (gpu.gpus, gpu.cpus) == (1, 4)  # one GPU a node unless something asks for more
    assert bounds(gpu) == (1, 1, gpu_nodes)
    assert bounds(plan.cpu) == (2, 2, 2)  # the source workers stay on CPU pods
    assert plan.gpu_asked


def test_a_gpu_node_has_as_many_gpus_as_the_largest_replica_asks() -> None:
    _, gpu = gpu_plan(bundle(**served(num_gpus=2, max_replicas=2)))
    assert gpu.gpus == 2
    assert bounds(gpu) == (1, 1, 2)


def test_gpu_workers_put_the_source_workers_on_gpu_nodes() -> None:
    plan, gpu = gpu_plan(bundle(count=4, num_cpus=1, workers={"num_gpus": 0.5}))
    assert bounds(gpu) == (2, 2, 2)  # 4 x 0.5 GPU on 1-GPU nodes
    assert bounds(plan.cpu) == (0, 0, 0)  # nothing left for CPU pods


def test_an_accelerator_type_becomes_a_resource_of_the_gpu_group() -> None:
    _, gpu = gpu_plan(bundle(**served(num_gpus=1, accelerator_type="L4")))
    assert gpu.accelerator_type == "L4"
    assert gpu.custom_resources == {"accelerator_type:L4": 1}
    plan = plan_cluster(bundle(**served(num_gpus=1)), cluster())
    assert plan.gpu is not None and plan.gpu.custom_resources == {}
    assert plan.cpu.custom_resources == {}


def test_two_accelerator_types_are_refused() -> None:
    models = [{"name": "a", "path": "a.onnx", **served(num_gpus=1, accelerator_type="L4")},
              {"name": "b", "path": "b.onnx", **served(num_gpus=1, accelerator_type="A10G")}]
    with pytest.raises(ConfigError, match=r"more than one accelerator type \(models\[0\].serve"
                       r".accelerator_type L4, models\[1\].serve.accelerator_type A10G\)"):
        plan_cluster(bundle(models=models), cluster())


def test_more_than_one_gpu_must_be_whole() -> None:
    with pytest.raises(ValidationError, match=r"1.5 GPUs: .* above 1 give whole GPUs"):
        plan_cluster(bundle(**served(num_gpus=1.5)), cluster())


def test_gpus_per_node_zero_with_a_gpu_replica_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"asks for GPU nodes \(model.serve.num_gpus 0.25\) "
                       r"but gpu_workers.gpus_per_node is 0"):
        plan_cluster(bundle(**served(num_gpus=0.25)), cluster(gpu_workers={"gpus_per_node": 0}))


def test_a_replica_wanting_more_gpus_than_a_node_has_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"model.serve.num_gpus \(2\) is more than one GPU "
                       r"worker pod has \(gpu_workers.gpus_per_node = 1\)"):
        plan_cluster(bundle(**served(num_gpus=2)), cluster(gpu_workers={"gpus_per_node": 1}))
    with pytest.raises(ConfigError, match=r"model.serve.num_cpus \(8\) is more than one GPU "
                       r"worker pod has \(gpu_workers.cpus = 4\)"):
        plan_cluster(bundle(**served(num_gpus=1, num_cpus=8)), cluster())


def test_a_gpu_ceiling_below_the_need_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"^6 replica\(s\) of m x 1 CPU \+ 0.5 GPU need 3 GPU "
                       r"worker pod\(s\) of 1 GPU\(s\) and 4 CPUs, but gpu_workers.max_replicas "
                       r"is 2; raise it"):
        plan_cluster(bundle(**served(num_gpus=0.5, max_replicas=6)),
                     cluster(gpu_workers={"max_replicas": 2}))


def test_gpu_group_when_gpus_per_node_is_set() -> None:
    plan, gpu = gpu_plan(bundle(), gpu_image="gpu:1", gpu_workers={
        "gpus_per_node": 2, "min_replicas": 1, "max_replicas": 3, "cpus": 8})
    assert (gpu.gpus, gpu.cpus, gpu.image) == (2, 8, "gpu:1")
    assert bounds(gpu) == (1, 1, 3)
    assert plan.autoscaling
    assert not plan.gpu_asked  # nothing in the pipeline asks Ray for a GPU
    assert [g.name for g in plan.groups] == ["cpu-workers", "gpu-workers"]
    _, default = gpu_plan(bundle(), gpu_workers={"gpus_per_node": 1})
    assert bounds(default) == (1, 1, 1)  # at least one node of a group that was asked for


def test_an_explicit_cuda_provider_without_gpus_is_refused() -> None:
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    spec = bundle(providers=providers)
    with pytest.raises(ConfigError, match=r"CUDAExecutionProvider .* set workers.num_gpus .* "
                       r"--gpus-per-node"):
        plan_cluster(spec, cluster())
    assert plan_cluster(spec, cluster(gpu_workers={"gpus_per_node": 1})).gpu is not None
    with pytest.raises(ConfigError, match=r"set model.serve.num_gpus"):
        plan_cluster(bundle(providers=providers, **served()), cluster())
    assert plan_cluster(bundle(providers=providers, **served(num_gpus=1)), cluster()).gpu


def test_gpu_pods_may_hold_every_source_worker() -> None:
    plan, gpu = gpu_plan(bundle(count=6, num_cpus=2), cpu_workers={"max_replicas": 0},
                         gpu_workers={"gpus_per_node": 1, "cpus": 4, "min_replicas": 1,
                                      "max_replicas": 3})
    assert bounds(plan.cpu) == (0, 0, 0)
    assert bounds(gpu) == (1, 3, 3)  # 3 pods x 2 workers
    assert plan.spilled == 6


def test_too_few_gpu_pods_for_a_gpu_only_placement_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"max_replicas is 0 and the GPU pods \(gpu_workers"
                       r".max_replicas = 2\) have no room left;"):
        plan_cluster(bundle(count=6, num_cpus=2), cluster(
            cpu_workers={"max_replicas": 0},
            gpu_workers={"gpus_per_node": 1, "cpus": 4, "max_replicas": 2}))
    with pytest.raises(ConfigError, match=r"max_replicas is 0; raise it"):
        plan_cluster(bundle(count=1), cluster(cpu_workers={"max_replicas": 0}))


def test_workers_too_big_for_cpu_pods_may_still_fit_gpu_pods() -> None:
    spec = bundle(count=2, num_cpus=3)
    with pytest.raises(ConfigError, match="more than one CPU worker pod has"):
        plan_cluster(spec, cluster(gpu_workers={"gpus_per_node": 1, "cpus": 8}))
    plan = plan_cluster(spec, cluster(cpu_workers={"max_replicas": 0},
                                      gpu_workers={"gpus_per_node": 1, "cpus": 8}))
    assert plan.cpu.replicas == 0
    assert bounds(plan.gpu) == (1, 1, 1)
