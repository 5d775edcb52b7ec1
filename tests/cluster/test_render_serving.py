"""Rendering: Serve replicas, HTTP and GPUs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.fixtures.rendering import (
    autoscaler_view,
    group,
    render,
    validate_launcher,
)


def head_container(raycluster: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = raycluster["spec"]["headGroupSpec"]["template"]["spec"][
        "containers"][0]
    return container


def test_fraud_serve_sizes_for_its_replicas_and_exposes_http(
    repo_config: Callable[[str], Path],
) -> None:
    docs, rendered = render(repo_config("fraud-serve"))
    raycluster = docs["raycluster.yaml"]
    # 2 workers x 0.5 CPU + 1..2 replicas x 1 CPU + the HTTP ingress's 0.1 CPU on 2-CPU pods
    cpu = group(raycluster, "cpu-workers")
    assert (cpu["replicas"], cpu["minReplicas"], cpu["maxReplicas"]) == (2, 2, 2)
    assert [g["groupName"] for g in raycluster["spec"]["workerGroupSpecs"]] == ["cpu-workers"]
    ports = {p["name"]: p["containerPort"] for p in head_container(raycluster)["ports"]}
    assert ports == {"gcs-server": 6379, "dashboard": 8265, "client": 10001, "serve": 8000}
    http = [w for w in rendered.warnings if w.startswith("http.host")]
    assert http == [
        "http.host is 127.0.0.1: inside a pod that is the pod itself, so only it (and "
        "`kubectl port-forward`) reaches the HTTP endpoint on port 8000; for in-cluster access "
        "through the Service fraud-serve-head-svc:8000, set http.host: 0.0.0.0 in the "
        "pipeline YAML"]
    assert "host: 127.0.0.1" in docs["configmap.yaml"]["data"]["pipeline.yaml"]  # unchanged
    assert autoscaler_view(raycluster)["cpu-workers"]["resources"]["CPU"] == 2


def test_more_replicas_switch_on_the_autoscaler(write_pipeline: Callable[..., Path]) -> None:
    path = write_pipeline(workers={"count": 1, "num_cpus": 1},
                          model={"serving": "serve", "serve": {"max_replicas": 5}})
    docs, _ = render(path)
    raycluster = docs["raycluster.yaml"]
    cpu = group(raycluster, "cpu-workers")
    assert (cpu["replicas"], cpu["minReplicas"], cpu["maxReplicas"]) == (1, 1, 3)
    assert raycluster["spec"]["enableInTreeAutoscaling"] is True
    node = docs["ray-cluster.yaml"]["available_node_types"]["cpu-workers"]
    assert (node["min_workers"], node["max_workers"]) == (1, 3)
    assert autoscaler_view(raycluster)["cpu-workers"]["max_workers"] == 3
    validate_launcher(docs["ray-cluster.yaml"])


def test_http_on_all_interfaces_gets_no_warning_and_no_http_no_port(
    write_pipeline: Callable[..., Path],
) -> None:
    served = {"serving": "serve"}
    docs, rendered = render(write_pipeline(model=served, http={
        "enabled": True, "host": "0.0.0.0", "port": 8080}))
    ports = {p["name"]: p["containerPort"] for p in head_container(docs["raycluster.yaml"])[
        "ports"]}
    assert ports["serve"] == 8080
    assert not any("http.host" in w for w in rendered.warnings)
    docs, _ = render(write_pipeline(model=served))
    assert "serve" not in {p["name"] for p in head_container(docs["raycluster.yaml"])["ports"]}


def test_quarter_gpu_replicas_render_one_gpu_node(repo_config: Callable[[str], Path]) -> None:
    path = repo_config("fraud-serve")
    text = path.read_text()
    assert "    num_gpus: 0 " in text  # the example's comment shows how to ask for a quarter
    path.write_text(text.replace("    num_gpus: 0 ", "    num_gpus: 0.25 "))
    docs, rendered = render(path)
    raycluster = docs["raycluster.yaml"]
    gpu = group(raycluster, "gpu-workers")
    assert (gpu["replicas"], gpu["minReplicas"], gpu["maxReplicas"]) == (1, 1, 1)  # 2 x 0.25
    assert gpu["rayStartParams"] == {"num-cpus": "4", "num-gpus": "1"}
    container = gpu["template"]["spec"]["containers"][0]
    assert container["image"] == "streaminfer:gpu"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert "nodeSelector" not in gpu["template"]["spec"]
    cpu = group(raycluster, "cpu-workers")  # workers and the HTTP ingress: 1.1 CPUs
    assert (cpu["replicas"], cpu["minReplicas"], cpu["maxReplicas"]) == (1, 1, 1)
    assert autoscaler_view(raycluster)["gpu-workers"]["resources"]["GPU"] == 1
    node = docs["ray-cluster.yaml"]["available_node_types"]["gpu-workers"]
    assert node["resources"] == {"CPU": 4, "GPU": 1}
    validate_launcher(docs["ray-cluster.yaml"])
    assert not any("GPU" in w for w in rendered.warnings)


def test_an_accelerator_type_is_a_ray_resource_and_a_node_selector(
    write_pipeline: Callable[..., Path],
) -> None:
    path = write_pipeline(model={"serving": "serve", "serve": {
        "num_gpus": 1, "accelerator_type": "L4", "max_replicas": 2}})
    selector = {"cloud.google.com/gke-accelerator": "nvidia-l4"}
    docs, rendered = render(path, gpu_workers={"node_selector": selector})
    gpu = group(docs["raycluster.yaml"], "gpu-workers")
    assert gpu["template"]["spec"]["nodeSelector"] == selector
    assert gpu["rayStartParams"]["resources"] == '"{\\"accelerator_type:L4\\": 1}"'
    # Ray's autoscaler reads it as the group's resource, so it scales this group for L4 asks
    resources = autoscaler_view(docs["raycluster.yaml"])["gpu-workers"]["resources"]
    assert (resources["GPU"], resources["accelerator_type:L4"]) == (1, 1)
    assert (gpu["minReplicas"], gpu["maxReplicas"]) == (1, 2)
    node = docs["ray-cluster.yaml"]["available_node_types"]["gpu-workers"]
    assert node["resources"] == {"CPU": 4, "GPU": 1, "accelerator_type:L4": 1}
    validate_launcher(docs["ray-cluster.yaml"])
    assert not any("node_selector" in w for w in rendered.warnings)
    _, unpinned = render(path)
    assert any("L4 GPUs" in w and "gpu_workers.node_selector" in w for w in unpinned.warnings)


def test_gpu_workers_render_a_gpu_group_and_an_empty_cpu_group(
    write_pipeline: Callable[..., Path],
) -> None:
    path = write_pipeline(workers={"count": 2, "num_cpus": 1, "num_gpus": 0.5})
    docs, rendered = render(path)
    raycluster = docs["raycluster.yaml"]
    gpu = group(raycluster, "gpu-workers")
    assert (gpu["replicas"], gpu["minReplicas"], gpu["maxReplicas"]) == (1, 1, 1)
    cpu = group(raycluster, "cpu-workers")
    assert (cpu["replicas"], cpu["minReplicas"], cpu["maxReplicas"]) == (0, 0, 0)
    validate_launcher(docs["ray-cluster.yaml"])
    assert rendered.warnings == []


def test_gpus_without_a_gpu_provider_and_a_gpu_provider_without_gpus_are_flagged(
    write_pipeline: Callable[..., Path],
) -> None:
    idle = write_pipeline(model={"serving": "serve", "providers": ["CPUExecutionProvider"],
                                 "serve": {"num_gpus": 0.5}})
    _, rendered = render(idle)
    assert any(w.startswith("model.serve.num_gpus asks Ray for 0.5 GPU, but model.providers "
                            "lists no GPU provider") for w in rendered.warnings)
    cuda = ["CUDAExecutionProvider"]
    mixed = write_pipeline(
        models=[{"name": "a", "path": "../models/a.onnx", "serving": "serve",
                 "serve": {"num_gpus": 1}},
                {"name": "b", "path": "../models/b.onnx", "providers": cuda}],
        routing={"weights": {"a": 1, "b": 1}})
    _, rendered = render(mixed)
    assert any(w.startswith("models[1].providers lists a GPU provider, but workers.num_gpus "
                            "is 0") for w in rendered.warnings)
