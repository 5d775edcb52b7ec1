"""Rendering: the four files from every example config, their structure, numbers and secrets."""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Callable, Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import yaml

from streaminfer.cluster.loader import parse_cluster_spec
from streaminfer.cluster.render import (
    RENDERERS,
    Rendered,
    dump_yaml,
    render_pipeline,
    write_rendered,
)
from streaminfer.errors import ConfigError

FILES = {"ray-cluster.yaml", "raycluster.yaml", "rayjob.yaml", "configmap.yaml"}
EXAMPLES = ["autoscaling", "demo", "diabetes-regression", "fraud-scoring", "fraud-serve",
            "mlp-scoring"]


def render(path: Path, **cluster: Any) -> tuple[dict[str, Any], Rendered]:
    rendered = render_pipeline(path, parse_cluster_spec(cluster))
    return {name: yaml.safe_load(text) for name, text in rendered.files.items()}, rendered


def containers(raycluster: dict[str, Any]) -> Iterator[dict[str, Any]]:
    spec = raycluster["spec"]
    yield from spec["headGroupSpec"]["template"]["spec"]["containers"]
    for group in spec["workerGroupSpecs"]:
        yield from group["template"]["spec"]["containers"]


def pod_specs(raycluster: dict[str, Any]) -> Iterator[dict[str, Any]]:
    spec = raycluster["spec"]
    yield spec["headGroupSpec"]["template"]["spec"]
    for group in spec["workerGroupSpecs"]:
        yield group["template"]["spec"]


def group(raycluster: dict[str, Any], name: str) -> dict[str, Any]:
    groups: dict[str, dict[str, Any]] = {
        g["groupName"]: g for g in raycluster["spec"]["workerGroupSpecs"]}
    return groups[name]


def validate_launcher(config: dict[str, Any]) -> None:
    """Ray's own check of a `ray up` file: defaults filled in, then its JSON schema."""
    from ray.autoscaler._private.util import prepare_config, validate_config

    logging.getLogger("ray").setLevel(logging.ERROR)
    validate_config(prepare_config(config))  # raises on a config `ray up` would refuse


def autoscaler_view(raycluster: dict[str, Any]) -> dict[str, Any]:
    """The node types Ray's autoscaler reads from a RayCluster (what KubeRay hands it)."""
    from ray.autoscaler._private.kuberay.autoscaling_config import (
        _derive_autoscaling_config_from_ray_cr,
    )

    config = _derive_autoscaling_config_from_ray_cr(raycluster)
    node_types: dict[str, Any] = config["available_node_types"]
    return node_types


def test_the_repository_has_the_example_configs() -> None:
    repo_configs = sorted(p.stem for p in (Path(__file__).parents[2] / "configs").glob("*.yaml"))
    assert repo_configs == EXAMPLES  # a new example config should be added to EXAMPLES


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_example_config_renders_four_valid_files(
    name: str, repo_config: Callable[[str], Path]
) -> None:
    path = repo_config(name)
    docs, rendered = render(path)
    assert set(rendered.files) == FILES == set(RENDERERS)
    pipeline = yaml.safe_load(path.read_text())

    configmap = docs["configmap.yaml"]
    assert (configmap["apiVersion"], configmap["kind"]) == ("v1", "ConfigMap")
    assert configmap["data"]["pipeline.yaml"] == path.read_text()
    model_file = (path.parent / pipeline["model"]["path"]).resolve()
    [shipped] = configmap["binaryData"].values()
    assert base64.b64decode(shipped) == model_file.read_bytes()

    raycluster = docs["raycluster.yaml"]
    assert (raycluster["apiVersion"], raycluster["kind"]) == ("ray.io/v1", "RayCluster")
    assert raycluster["metadata"]["name"] == pipeline["name"]
    assert raycluster["spec"]["rayVersion"] == version("ray")
    for pod in pod_specs(raycluster):
        volume = next(v for v in pod["volumes"] if v["name"] == "pipeline")
        assert volume["configMap"]["name"] == configmap["metadata"]["name"]

    rayjob = docs["rayjob.yaml"]
    assert (rayjob["apiVersion"], rayjob["kind"]) == ("ray.io/v1", "RayJob")
    assert rayjob["spec"]["entrypoint"].startswith("streaminfer run /config/pipeline.yaml")
    assert rayjob["spec"]["clusterSelector"] == {"ray.io/cluster": pipeline["name"]}

    launcher = docs["ray-cluster.yaml"]
    assert launcher["cluster_name"] == pipeline["name"]
    assert launcher["file_mounts"]["/config/pipeline.yaml"] == str(path)
    validate_launcher(launcher)
    autoscaler_view(raycluster)


def test_resources_follow_the_pipeline_workers(write_pipeline: Callable[..., Path]) -> None:
    path = write_pipeline(workers={"count": 5, "num_cpus": 1})
    docs, _ = render(path, head={"cpus": 3, "memory": "6Gi"},
                     cpu_workers={"cpus": 4, "memory": "8Gi"})
    raycluster = docs["raycluster.yaml"]
    head = raycluster["spec"]["headGroupSpec"]
    assert head["rayStartParams"]["num-cpus"] == "0"  # the head runs no source worker
    assert head["template"]["spec"]["containers"][0]["resources"]["requests"] == {
        "cpu": "3", "memory": "6Gi"}
    cpu = group(raycluster, "cpu-workers")
    assert (cpu["replicas"], cpu["minReplicas"], cpu["maxReplicas"]) == (2, 2, 2)  # 5 x 1 CPU / 4
    assert cpu["rayStartParams"] == {"num-cpus": "4"}
    resources = cpu["template"]["spec"]["containers"][0]["resources"]
    assert resources == {"requests": {"cpu": "4", "memory": "8Gi"},
                         "limits": {"cpu": "4", "memory": "8Gi"}}
    assert raycluster["spec"]["enableInTreeAutoscaling"] is False

    nodes = docs["ray-cluster.yaml"]["available_node_types"]
    assert nodes["head"]["resources"] == {"CPU": 0}
    assert nodes["cpu-workers"]["resources"] == {"CPU": 4}
    assert (nodes["cpu-workers"]["min_workers"], nodes["cpu-workers"]["max_workers"]) == (2, 2)
    assert "gpu-workers" not in nodes


def test_replica_bounds_switch_on_the_autoscaler(write_pipeline: Callable[..., Path]) -> None:
    docs, _ = render(write_pipeline(), cpu_workers={"min_replicas": 1, "max_replicas": 6})
    raycluster = docs["raycluster.yaml"]
    assert raycluster["spec"]["enableInTreeAutoscaling"] is True
    cpu = group(raycluster, "cpu-workers")
    assert (cpu["replicas"], cpu["minReplicas"], cpu["maxReplicas"]) == (2, 1, 6)
    assert docs["ray-cluster.yaml"]["max_workers"] == 6
    validate_launcher(docs["ray-cluster.yaml"])


def test_no_gpu_is_asked_for_by_default(write_pipeline: Callable[..., Path]) -> None:
    docs, rendered = render(write_pipeline())
    assert [g["groupName"] for g in docs["raycluster.yaml"]["spec"]["workerGroupSpecs"]] == [
        "cpu-workers"]
    assert not any("nvidia.com/gpu" in text or "GPU" in text for text in rendered.files.values())


def test_gpus_per_node_adds_a_gpu_worker_group(write_pipeline: Callable[..., Path]) -> None:
    docs, rendered = render(
        write_pipeline(), gpu_image="registry.example/si:gpu",
        gpu_workers={"gpus_per_node": 2, "min_replicas": 0, "max_replicas": 3, "cpus": 8,
                     "memory": "32Gi"},
    )
    raycluster = docs["raycluster.yaml"]
    gpu = group(raycluster, "gpu-workers")
    assert (gpu["replicas"], gpu["minReplicas"], gpu["maxReplicas"]) == (1, 0, 3)
    assert gpu["rayStartParams"] == {"num-cpus": "8", "num-gpus": "2"}
    container = gpu["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example/si:gpu"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert "nvidia.com/gpu" not in container["resources"]["requests"]
    assert gpu["template"]["spec"]["tolerations"][0]["key"] == "nvidia.com/gpu"
    # Ray hides the GPUs from actors it gave none, so only those asking run on CUDA
    assert container["env"] == [{"name": "RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "value": "1"}]
    head = raycluster["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    cpu = group(raycluster, "cpu-workers")["template"]["spec"]["containers"][0]
    assert "nvidia.com/gpu" not in head["resources"]["limits"]
    assert "nvidia.com/gpu" not in cpu["resources"]["limits"]
    assert raycluster["spec"]["enableInTreeAutoscaling"] is True

    node = docs["ray-cluster.yaml"]["available_node_types"]["gpu-workers"]
    assert node["resources"] == {"CPU": 8, "GPU": 2}
    assert node["docker"] == {"worker_image": "registry.example/si:gpu",
                              "worker_run_options": ["--env=RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO=1"]}
    assert (node["min_workers"], node["max_workers"]) == (0, 3)
    validate_launcher(docs["ray-cluster.yaml"])
    assert autoscaler_view(raycluster)["gpu-workers"]["resources"]["GPU"] == 2
    # nothing in the pipeline asks Ray for a GPU: the user is told the GPUs stay unused
    assert rendered.warnings == [
        "gpu_workers.gpus_per_node adds GPU nodes, but nothing in the pipeline asks Ray for a "
        "GPU (serve.num_gpus, workers.num_gpus): no actor is given one"]


def test_sasl_secrets_come_from_a_kubernetes_secret_and_never_appear(
    write_pipeline: Callable[..., Path], sasl: dict[str, Any], fake_secret: str
) -> None:
    path = write_pipeline(kafka={"security": sasl})
    docs, rendered = render(path, kafka_secret_name="kafka-sasl",
                            gpu_workers={"gpus_per_node": 1})
    expected = [
        {"name": name, "valueFrom": {"secretKeyRef": {"name": "kafka-sasl", "key": name}}}
        for name in ("KAFKA_USERNAME", "KAFKA_PASSWORD")
    ]
    all_containers = list(containers(docs["raycluster.yaml"]))
    assert len(all_containers) == 3  # head, CPU group, GPU group
    for container in all_containers:
        assert container["env"][:2] == expected
    everything = "\n".join([*rendered.files.values(), *rendered.warnings])
    assert fake_secret not in everything
    assert "KAFKA_PASSWORD" in "\n".join(rendered.warnings)  # the user is told what to create


def test_the_key_password_of_mutual_tls_comes_from_the_secret_too(
    write_pipeline: Callable[..., Path], fake_secret: str
) -> None:
    security = {"protocol": "SSL", "ssl_cafile": "/etc/kafka/ca.pem",
                "ssl_certfile": "/etc/kafka/client.pem", "ssl_keyfile": "/etc/kafka/client.key",
                "ssl_password_env": "KAFKA_KEY_PASSWORD"}
    docs, rendered = render(write_pipeline(kafka={"security": security}),
                            kafka_tls_secret_name="kafka-tls")
    for container in containers(docs["raycluster.yaml"]):
        assert [e["name"] for e in container["env"]] == ["KAFKA_KEY_PASSWORD"]
        tls = [m for m in container["volumeMounts"] if m["name"] == "kafka-tls"]
        assert {(m["mountPath"], m["subPath"]) for m in tls} == {
            ("/etc/kafka/ca.pem", "ca.pem"), ("/etc/kafka/client.pem", "client.pem"),
            ("/etc/kafka/client.key", "client.key")}
    for pod in pod_specs(docs["raycluster.yaml"]):
        assert {"name": "kafka-tls", "secret": {"secretName": "kafka-tls"}} in pod["volumes"]
    assert fake_secret not in "\n".join(rendered.files.values())
    assert not any("TLS files" in w for w in rendered.warnings)


def test_tls_files_without_a_tls_secret_are_a_warning(
    write_pipeline: Callable[..., Path],
) -> None:
    security = {"protocol": "SSL", "ssl_cafile": "/etc/kafka/ca.pem"}
    _, rendered = render(write_pipeline(kafka={"security": security}))
    assert any("/etc/kafka/ca.pem" in w and "kafka_tls_secret_name" in w
               for w in rendered.warnings)
    assert "kafka-tls" not in rendered.files["raycluster.yaml"]


def test_a_tls_file_inside_the_config_folder_is_refused(
    write_pipeline: Callable[..., Path],
) -> None:
    security = {"protocol": "SSL", "ssl_cafile": "certs/ca.pem"}
    with pytest.raises(ConfigError, match=r"ssl_cafile is /config/certs/ca\.pem"):
        render(write_pipeline(kafka={"security": security}), kafka_tls_secret_name="tls")


def test_plaintext_pipelines_get_no_environment(write_pipeline: Callable[..., Path]) -> None:
    docs, _ = render(write_pipeline())
    assert all("env" not in c for c in containers(docs["raycluster.yaml"]))


def test_a_model_outside_the_config_folder_is_mounted_where_the_yaml_points(
    write_pipeline: Callable[..., Path],
) -> None:
    docs, _ = render(write_pipeline())  # model.path: ../models/model.onnx
    for container in containers(docs["raycluster.yaml"]):
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        assert mounts["/config"]["readOnly"] is True
        assert mounts["/models/model.onnx"] == {
            "name": "pipeline", "mountPath": "/models/model.onnx", "subPath": "model-model.onnx",
            "readOnly": True}
    files = docs["ray-cluster.yaml"]["file_mounts"]
    assert files["/models/model.onnx"].endswith("/models/model.onnx")


def test_a_model_inside_the_config_folder_is_an_item_of_the_config_volume(
    write_pipeline: Callable[..., Path],
) -> None:
    docs, _ = render(write_pipeline(model={"path": "m/model.onnx"}))
    for pod in pod_specs(docs["raycluster.yaml"]):
        volume = next(v for v in pod["volumes"] if v["name"] == "pipeline")
        assert {"key": "model-model.onnx", "path": "m/model.onnx"} in volume["configMap"][
            "items"]
        for container in pod["containers"]:
            assert not any("subPath" in m for m in container["volumeMounts"])
    assert "/config/m/model.onnx" in docs["ray-cluster.yaml"]["file_mounts"]


def test_ship_model_false_leaves_the_model_to_the_image(
    write_pipeline: Callable[..., Path],
) -> None:
    docs, rendered = render(write_pipeline(with_model=False), ship_model=False)
    assert "binaryData" not in docs["configmap.yaml"]
    assert list(docs["ray-cluster.yaml"]["file_mounts"]) == ["/config/pipeline.yaml"]
    assert any("/models/model.onnx" in w and "ship_model" in w for w in rendered.warnings)
    with pytest.raises(ConfigError, match="inside the ConfigMap mount"):
        render(write_pipeline(with_model=False, model={"path": "model.onnx"}), ship_model=False)


def test_a_missing_model_says_how_to_get_it(write_pipeline: Callable[..., Path]) -> None:
    with pytest.raises(ConfigError, match=r"does not exist .*streaminfer build-models"):
        render(write_pipeline(with_model=False))


def test_a_model_too_large_for_a_configmap_is_refused(write_pipeline: Callable[..., Path]) -> None:
    path = write_pipeline()
    (path.parent.parent / "models" / "model.onnx").write_bytes(b"\0" * 800_000)
    with pytest.raises(ConfigError, match=r"too large for a ConfigMap.*ship_model: false"):
        render(path)


def test_the_model_sha256_is_checked(write_pipeline: Callable[..., Path]) -> None:
    path = write_pipeline(model={"sha256": "0" * 64})
    with pytest.raises(ConfigError, match=r"model\.sha256 does not match"):
        render(path)
    model = (path.parent.parent / "models" / "model.onnx").read_bytes()
    good = write_pipeline(model={"sha256": hashlib.sha256(model).hexdigest()})
    render(good)


def test_the_pipeline_text_is_shipped_byte_for_byte(write_pipeline: Callable[..., Path]) -> None:
    path = write_pipeline()
    tricky = ("# trailing spaces   \n# tab\there, unicode: café ✓\n" + path.read_text()
              + "# 'quotes' \"and\" : colons\n# no newline at the end")
    path.write_text(tricky, encoding="utf-8")
    docs, rendered = render(path)
    assert docs["configmap.yaml"]["data"]["pipeline.yaml"] == tricky
    plain = write_pipeline()
    docs, rendered = render(plain)
    assert "pipeline.yaml: |" in rendered.files["configmap.yaml"]  # readable literal block


@pytest.mark.parametrize("text", ["a: 1\r\nb: 2\r\n", "\n\nlead\n", "trail\n\n\n",
                                  " indented\nx\n", "tab\t\nend", "u\u2028v\n"])
def test_dump_yaml_round_trips_any_text(text: str) -> None:
    assert yaml.safe_load(dump_yaml({"t": text}))["t"] == text


def test_names_and_namespace_reach_every_object(write_pipeline: Callable[..., Path]) -> None:
    docs, _ = render(write_pipeline(), name="prod", namespace="streaming")
    for name in ("configmap.yaml", "raycluster.yaml", "rayjob.yaml"):
        assert docs[name]["metadata"]["namespace"] == "streaming"
        assert docs[name]["metadata"]["labels"]["app.kubernetes.io/instance"] == "prod"
    assert docs["raycluster.yaml"]["metadata"]["name"] == "prod"
    assert docs["configmap.yaml"]["metadata"]["name"] == "prod-pipeline"
    assert docs["rayjob.yaml"]["spec"]["clusterSelector"] == {"ray.io/cluster": "prod"}
    assert docs["ray-cluster.yaml"]["cluster_name"] == "prod"


def test_the_launcher_installs_streaminfer_and_runs_the_images(
    write_pipeline: Callable[..., Path],
) -> None:
    docs, _ = render(write_pipeline(), image="registry.example/si:cpu",
                     pip=["streaminfer==0.1.0", "extra pkg"])
    launcher = docs["ray-cluster.yaml"]
    assert launcher["docker"]["image"] == "registry.example/si:cpu"
    assert launcher["setup_commands"] == ["pip install --quiet streaminfer==0.1.0 'extra pkg'"]
    assert any("ray start --head" in c and "--num-cpus=0" in c
               for c in launcher["head_start_ray_commands"])
    assert any("--dashboard-host=127.0.0.1" in c for c in launcher["head_start_ray_commands"])
    assert any("$RAY_HEAD_IP" in c for c in launcher["worker_start_ray_commands"])
    assert launcher["provider"]["type"] == "aws"
    assert "--user=root" in launcher["docker"]["run_options"]  # to write /config and /models


def test_the_embedded_broker_is_flagged(repo_config: Callable[[str], Path]) -> None:
    _, demo = render(repo_config("demo"))
    assert any("'embedded'" in w and "memory" in w for w in demo.warnings)
    _, fraud = render(repo_config("fraud-scoring"))
    assert fraud.warnings == []


def test_write_rendered_writes_every_file(tmp_path: Path, write_pipeline: Callable[..., Path]
                                          ) -> None:
    _, rendered = render(write_pipeline())
    paths = write_rendered(rendered, tmp_path / "out" / "deep")
    assert {p.name for p in paths} == FILES
    for path in paths:
        assert path.read_text() == rendered.files[path.name]
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="cannot write"):
        write_rendered(rendered, blocker)


def test_a_gpu_only_placement_renders_an_empty_cpu_group(
    write_pipeline: Callable[..., Path],
) -> None:
    docs, rendered = render(write_pipeline(), cpu_workers={"max_replicas": 0},
                            gpu_workers={"gpus_per_node": 1, "min_replicas": 2,
                                         "max_replicas": 2})
    assert ("3 source worker(s) or replica(s) that need no GPU do not fit "
            "cpu_workers.max_replicas and are planned on GPU nodes") in rendered.warnings
    cpu = group(docs["raycluster.yaml"], "cpu-workers")
    assert (cpu["replicas"], cpu["minReplicas"], cpu["maxReplicas"]) == (0, 0, 0)
    assert group(docs["raycluster.yaml"], "gpu-workers")["replicas"] == 2
    validate_launcher(docs["ray-cluster.yaml"])


# ---------------------------------------------------------------- Serve replicas, HTTP, GPUs


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


# ---------------------------------------------------------------- several models


def two_models(write_pipeline: Callable[..., Path], **first: Any) -> Path:
    return write_pipeline(
        models=[{"name": "a", "path": "../models/a.onnx", **first},
                {"name": "b", "path": "b/b.onnx"},
                {"name": "a2", "path": "../models/a.onnx"}],  # the same file as "a"
        routing={"weights": {"a": 1, "b": 1, "a2": 1}})


def test_every_model_ships_once_where_the_yaml_points(
    write_pipeline: Callable[..., Path],
) -> None:
    path = two_models(write_pipeline)
    a = (path.parent.parent / "models" / "a.onnx").read_bytes()
    b = (path.parent / "b" / "b.onnx").read_bytes()
    docs, _ = render(path)
    data = docs["configmap.yaml"]["binaryData"]
    assert {k: base64.b64decode(v) for k, v in data.items()} == {
        "model-a.onnx": a, "model-b.onnx": b}
    for pod in pod_specs(docs["raycluster.yaml"]):
        volume = next(v for v in pod["volumes"] if v["name"] == "pipeline")
        assert volume["configMap"]["items"] == [
            {"key": "pipeline.yaml", "path": "pipeline.yaml"},
            {"key": "model-a.onnx", "path": "model-a.onnx"},
            {"key": "model-b.onnx", "path": "b/b.onnx"}]
        [container] = pod["containers"]
        sub = [(m["mountPath"], m["subPath"]) for m in container["volumeMounts"] if "subPath" in m]
        assert sub == [("/models/a.onnx", "model-a.onnx")]
    files = docs["ray-cluster.yaml"]["file_mounts"]
    assert files["/models/a.onnx"] == str(path.parent.parent / "models" / "a.onnx")
    assert files["/config/b/b.onnx"] == str(path.parent / "b" / "b.onnx")
    assert len(files) == 3


def test_every_model_sha256_is_checked(write_pipeline: Callable[..., Path]) -> None:
    with pytest.raises(ConfigError, match=r"models\[0\]\.sha256 does not match .*a\.onnx"):
        render(two_models(write_pipeline, sha256="0" * 64))
    path = two_models(write_pipeline)
    good = hashlib.sha256((path.parent.parent / "models" / "a.onnx").read_bytes()).hexdigest()
    render(two_models(write_pipeline, sha256=good))


def test_a_missing_second_model_names_its_field(write_pipeline: Callable[..., Path]) -> None:
    path = two_models(write_pipeline)
    (path.parent / "b" / "b.onnx").unlink()
    with pytest.raises(ConfigError, match=r"models\[1\]\.path: .*b\.onnx does not exist"):
        render(path)


def test_the_size_limit_applies_to_all_models_together(
    write_pipeline: Callable[..., Path],
) -> None:
    path = two_models(write_pipeline)
    (path.parent.parent / "models" / "a.onnx").write_bytes(b"\0" * 400_000)
    render(path)  # 400 kB + the small b.onnx: fits
    (path.parent / "b" / "b.onnx").write_bytes(b"\0" * 400_000)
    with pytest.raises(ConfigError, match=r"too large for a ConfigMap together: .*a\.onnx "
                       r"\(400,000 bytes\), .*b\.onnx \(400,000 bytes\).*ship_model: false"):
        render(path)


def test_ship_model_false_names_every_model_place(write_pipeline: Callable[..., Path]) -> None:
    path = write_pipeline(
        with_model=False, models=[{"name": "a", "path": "/m/a.onnx"},
                                  {"name": "b", "path": "../models/b.onnx"}],
        routing={"weights": {"a": 1, "b": 1}})
    docs, rendered = render(path, ship_model=False)
    assert "binaryData" not in docs["configmap.yaml"]
    assert any("at /m/a.onnx, /models/b.onnx" in w for w in rendered.warnings)
    inside = write_pipeline(
        with_model=False, models=[{"name": "a", "path": "/m/a.onnx"},
                                  {"name": "b", "path": "b.onnx"}],
        routing={"weights": {"a": 1, "b": 1}})
    with pytest.raises(ConfigError, match=r"models\[1\]\.path is /config/b\.onnx .* inside the "
                       "ConfigMap mount"):
        render(inside, ship_model=False)
