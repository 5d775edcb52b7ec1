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
EXAMPLES = ["demo", "diabetes-regression", "fraud-scoring"]


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
    assert base64.b64decode(configmap["binaryData"]["model.onnx"]) == model_file.read_bytes()

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
    assert (gpu["replicas"], gpu["minReplicas"], gpu["maxReplicas"]) == (0, 0, 3)
    assert gpu["rayStartParams"] == {"num-cpus": "8", "num-gpus": "2"}
    container = gpu["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example/si:gpu"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert "nvidia.com/gpu" not in container["resources"]["requests"]
    assert gpu["template"]["spec"]["tolerations"][0]["key"] == "nvidia.com/gpu"
    head = raycluster["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    cpu = group(raycluster, "cpu-workers")["template"]["spec"]["containers"][0]
    assert "nvidia.com/gpu" not in head["resources"]["limits"]
    assert "nvidia.com/gpu" not in cpu["resources"]["limits"]
    assert raycluster["spec"]["enableInTreeAutoscaling"] is True

    node = docs["ray-cluster.yaml"]["available_node_types"]["gpu-workers"]
    assert node["resources"] == {"CPU": 8, "GPU": 2}
    assert node["docker"] == {"worker_image": "registry.example/si:gpu"}
    assert (node["min_workers"], node["max_workers"]) == (0, 3)
    validate_launcher(docs["ray-cluster.yaml"])
    assert rendered.warnings == []


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
        assert container["env"] == expected
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
            "name": "pipeline", "mountPath": "/models/model.onnx", "subPath": "model.onnx",
            "readOnly": True}
    files = docs["ray-cluster.yaml"]["file_mounts"]
    assert files["/models/model.onnx"].endswith("/models/model.onnx")


def test_a_model_inside_the_config_folder_is_an_item_of_the_config_volume(
    write_pipeline: Callable[..., Path],
) -> None:
    docs, _ = render(write_pipeline(model={"path": "m/model.onnx"}))
    for pod in pod_specs(docs["raycluster.yaml"]):
        volume = next(v for v in pod["volumes"] if v["name"] == "pipeline")
        assert {"key": "model.onnx", "path": "m/model.onnx"} in volume["configMap"]["items"]
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
    docs, _ = render(write_pipeline(), cpu_workers={"max_replicas": 0},
                     gpu_workers={"gpus_per_node": 1, "min_replicas": 2, "max_replicas": 2})
    cpu = group(docs["raycluster.yaml"], "cpu-workers")
    assert (cpu["replicas"], cpu["minReplicas"], cpu["maxReplicas"]) == (0, 0, 0)
    assert group(docs["raycluster.yaml"], "gpu-workers")["replicas"] == 2
    validate_launcher(docs["ray-cluster.yaml"])
