"""Rendering: the four files from every example config, their structure and numbers."""

from __future__ import annotations

import base64
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml

from streaminfer.cluster.render import (
    RENDERERS,
    dump_yaml,
    write_rendered,
)
from streaminfer.errors import ConfigError
from tests.fixtures.rendering import (
    EXAMPLES,
    FILES,
    LOCAL_ONLY,
    autoscaler_view,
    group,
    pod_specs,
    render,
    validate_launcher,
)


def test_the_repository_has_the_example_configs() -> None:
    repo_configs = sorted(p.stem for p in (Path(__file__).parents[2] / "configs").glob("*.yaml"))
    # a new example config should be added to EXAMPLES (or LOCAL_ONLY)
    assert repo_configs == sorted(EXAMPLES + LOCAL_ONLY)


@pytest.mark.parametrize("name", LOCAL_ONLY)
def test_a_config_on_a_local_registry_is_refused_in_one_line(
    name: str, repo_config: Callable[[str], Path]
) -> None:
    with pytest.raises(ConfigError, match="sqlite") as caught:
        render(repo_config(name))
    assert "\n" not in str(caught.value)


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
