"""docker/: what can be checked without a Docker engine (none runs here).

The compose file parses and wires Kafka, a Ray head and streaminfer together on loopback-bound
ports; every file a Dockerfile copies exists; the images are the ones the docs promise.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from streaminfer.pipelines.devtools.example_models import EXAMPLES

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
DOCKERFILES = ["Dockerfile.cpu", "Dockerfile.gpu"]


def compose() -> dict[str, Any]:
    data = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    assert isinstance(data, dict)
    return data


def instructions(name: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (DOCKER / name).read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def test_compose_has_kafka_a_ray_head_and_streaminfer() -> None:
    services = compose()["services"]
    assert set(services) == {"kafka", "ray-head", "streaminfer", "prometheus", "grafana"}
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "--head" in services["ray-head"]["command"]
    assert services["streaminfer"]["command"].startswith("streaminfer run ")


def test_compose_publishes_ports_on_loopback_only() -> None:
    for name, service in compose()["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)
    assert "127.0.0.1:9092:9092" in compose()["services"]["kafka"]["ports"]


def test_streaminfer_runs_a_repository_config_whose_model_the_image_trains() -> None:
    services = compose()["services"]
    app = services["streaminfer"]
    mount = next(v for v in app["volumes"] if v.startswith("../configs:"))
    container_configs = mount.split(":")[1]
    args = shlex.split(app["command"])
    config = next(a for a in args if a.endswith(".yaml"))
    host_config = REPO / "configs" / Path(config).relative_to(
        Path(container_configs).relative_to("/opt/streaminfer"))
    assert host_config.exists()
    model = Path(yaml.safe_load(host_config.read_text())["model"]["path"])
    assert model.stem in EXAMPLES  # `streaminfer build-models` in the image writes it
    assert args[args.index("--address") + 1] == "ray://localhost:10001"
    # The driver and the Ray workers share Kafka's network namespace: localhost:9092 is Kafka.
    assert services["ray-head"]["network_mode"] == app["network_mode"] == "service:kafka"
    bootstrap = yaml.safe_load(host_config.read_text())["kafka"]["bootstrap_servers"]
    assert bootstrap == "localhost:9092"


def test_compose_builds_the_cpu_image_from_the_repository_root() -> None:
    build = compose()["services"]["ray-head"]["build"]
    assert (DOCKER / build["context"]).resolve() == REPO
    assert (REPO / build["dockerfile"]).exists()


@pytest.mark.parametrize("name", DOCKERFILES)
def test_every_copied_path_exists_in_the_repository(name: str) -> None:
    copies = [args for keyword, args in instructions(name) if keyword == "COPY"]
    local = [args for args in copies if not args.startswith("--from")]
    assert local, "a Dockerfile that copies nothing cannot install the project"
    for args in local:
        *sources, _target = args.split()
        for source in sources:
            assert (REPO / source).exists(), f"{name}: COPY {source} is not in the repository"
    assert (DOCKER / f"{name}.dockerignore").exists()


@pytest.mark.parametrize("name", DOCKERFILES)
def test_the_images_install_the_project_and_its_package_folders(name: str) -> None:
    steps = instructions(name)
    copied = {args.split()[0].rstrip("/") for k, args in steps if k == "COPY"}
    # streaminfer/{operators,pipelines,cluster} are links to the top-level folders.
    assert {"pyproject.toml", "streaminfer", "operators", "pipelines", "cluster"} <= copied
    runs = " ".join(args for k, args in steps if k == "RUN")
    assert re.search(r"pip install\b[^&]*\s\.(\s|$)", runs)  # pip install [options] .
    assert ("USER", "streaminfer") in steps
    assert "rsync" in runs  # `ray up` copies files into the container with rsync


def test_the_cpu_image_is_python_311_slim() -> None:
    assert instructions("Dockerfile.cpu")[0] == ("FROM", "python:3.11-slim")


def test_the_gpu_image_has_cuda_13_and_cudnn_9_and_python_311() -> None:
    steps = instructions("Dockerfile.gpu")
    base = next(args for k, args in steps if k == "FROM")
    assert re.fullmatch(r"nvidia/cuda:13\.\d+\.\d+-cudnn-runtime-ubuntu\d+\.\d+", base)
    runs = " ".join(args for k, args in steps if k == "RUN")
    assert "onnxruntime-gpu>=1.31" in runs
    assert "3.11" in runs  # the same Python as the CPU image: one Ray cluster, one Python


def test_the_gpu_image_gives_cuda_only_to_actors_that_asked_for_a_gpu() -> None:
    from streaminfer.cluster.plan import GPU_NODE_ENV

    env = " ".join(args for k, args in instructions("Dockerfile.gpu") if k == "ENV")
    for name, value in GPU_NODE_ENV.items():
        assert re.search(rf"(^|\s){name}={value}(\s|$)", env), name
