"""KubeRay manifests: the pipeline's ConfigMap, a RayCluster, and a RayJob that runs it there.

Secrets never appear in a manifest: each Kafka secret reaches the pods as an environment
variable taken from a Kubernetes Secret (``env.valueFrom.secretKeyRef``), and TLS files are
mounted from another Secret.
"""

from __future__ import annotations

import base64
from importlib.metadata import version
from pathlib import PurePosixPath
from typing import Any

from streaminfer.cluster.deployment import MODEL_KEY, PIPELINE_KEY, Deployment
from streaminfer.cluster.layout import CONFIG_DIR, run_command
from streaminfer.cluster.plan import GroupPlan
from streaminfer.cluster.secrets import secret_env_names
from streaminfer.errors import ConfigError

RAY_API = "ray.io/v1"
PIPELINE_VOLUME = "pipeline"
TLS_VOLUME = "kafka-tls"
SHM_VOLUME = "dshm"
HEAD_PORTS = {"gcs-server": 6379, "dashboard": 8265, "client": 10001}


def labels(d: Deployment) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "streaminfer",
        "app.kubernetes.io/instance": d.plan.name,
        "app.kubernetes.io/part-of": d.bundle.spec.name,
    }


def _metadata(d: Deployment, name: str) -> dict[str, Any]:
    return {"name": name, "namespace": d.plan.namespace, "labels": labels(d)}


def render_configmap(d: Deployment) -> dict[str, Any]:
    """The pipeline YAML, byte for byte, and (when it ships) the model file."""
    manifest: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(d, d.configmap_name),
        "data": {PIPELINE_KEY: d.bundle.text},
    }
    if d.model is not None:
        manifest["binaryData"] = {MODEL_KEY: base64.b64encode(d.model).decode("ascii")}
    return manifest


def render_raycluster(d: Deployment) -> dict[str, Any]:
    """A RayCluster: a head that runs no source workers, a CPU group, a GPU group if asked."""
    plan = d.plan
    head_container = _container(
        d, "ray-head", d.cluster.image, cpus=plan.head_cpus, memory=plan.head_memory, gpus=0
    )
    head_container["ports"] = [
        {"name": name, "containerPort": port} for name, port in HEAD_PORTS.items()
    ]
    return {
        "apiVersion": RAY_API,
        "kind": "RayCluster",
        "metadata": _metadata(d, plan.name),
        "spec": {
            "rayVersion": version("ray"),
            "enableInTreeAutoscaling": plan.autoscaling,
            "headGroupSpec": {
                # The dashboard (Jobs API) must be reachable from the RayJob submitter pod
                # through the head Service; the cluster network is the boundary here.
                "rayStartParams": {"dashboard-host": "0.0.0.0", "num-cpus": "0"},
                "template": _pod_template(d, head_container),
            },
            "workerGroupSpecs": [_worker_group(d, group) for group in plan.groups],
        },
    }


def render_rayjob(d: Deployment) -> dict[str, Any]:
    """A RayJob that runs ``streaminfer run /config/pipeline.yaml`` on the RayCluster."""
    return {
        "apiVersion": RAY_API,
        "kind": "RayJob",
        "metadata": _metadata(d, f"{d.plan.name}-job"),
        "spec": {
            "entrypoint": run_command(str(d.layout.pipeline)),
            "clusterSelector": {"ray.io/cluster": d.plan.name},
            "submissionMode": "K8sJobMode",
        },
    }


def _worker_group(d: Deployment, group: GroupPlan) -> dict[str, Any]:
    params = {"num-cpus": str(group.cpus)}
    if group.gpus:
        params["num-gpus"] = str(group.gpus)
    container = _container(
        d, "ray-worker", group.image, cpus=group.cpus, memory=group.memory, gpus=group.gpus
    )
    template = _pod_template(d, container)
    if group.gpus:
        template["spec"]["tolerations"] = [
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
        ]
    return {
        "groupName": group.name,
        "replicas": group.replicas,
        "minReplicas": group.min_replicas,
        "maxReplicas": group.max_replicas,
        "rayStartParams": params,
        "template": template,
    }


def _container(
    d: Deployment, name: str, image: str, *, cpus: int, memory: str, gpus: int
) -> dict[str, Any]:
    amount = {"cpu": str(cpus), "memory": memory}
    limits = dict(amount)
    if gpus:
        limits["nvidia.com/gpu"] = str(gpus)  # GPUs: limits only (requests follow them)
    container: dict[str, Any] = {
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "resources": {"requests": amount, "limits": limits},
        "volumeMounts": _mounts(d),
    }
    env = [
        {
            "name": env_name,
            "valueFrom": {
                "secretKeyRef": {"name": d.cluster.kafka_secret_name, "key": env_name}
            },
        }
        for env_name in secret_env_names(d.bundle.spec)
    ]
    if env:
        container["env"] = env
    return container


def _pod_template(d: Deployment, container: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"labels": labels(d)},
        "spec": {"containers": [container], "volumes": _volumes(d)},
    }


def _model_item_path(d: Deployment) -> str:
    inside = d.layout.model_in_config_dir
    return str(inside) if inside is not None else MODEL_KEY


def _volumes(d: Deployment) -> list[dict[str, Any]]:
    items = [{"key": PIPELINE_KEY, "path": PIPELINE_KEY}]
    if d.model is not None:
        items.append({"key": MODEL_KEY, "path": _model_item_path(d)})
    volumes: list[dict[str, Any]] = [
        {"name": PIPELINE_VOLUME, "configMap": {"name": d.configmap_name, "items": items}},
        # Ray's object store lives in /dev/shm; a container's default 64 MiB is too small.
        {"name": SHM_VOLUME, "emptyDir": {"medium": "Memory"}},
    ]
    if d.cluster.kafka_tls_secret_name and d.layout.tls:
        volumes.append(
            {"name": TLS_VOLUME, "secret": {"secretName": d.cluster.kafka_tls_secret_name}}
        )
    return volumes


def _mounts(d: Deployment) -> list[dict[str, Any]]:
    mounts: list[dict[str, Any]] = [
        {"name": PIPELINE_VOLUME, "mountPath": str(CONFIG_DIR), "readOnly": True},
        {"name": SHM_VOLUME, "mountPath": "/dev/shm"},
    ]
    if d.model is not None and d.layout.model_in_config_dir is None:
        mounts.append({
            "name": PIPELINE_VOLUME, "mountPath": str(d.layout.model),
            "subPath": _model_item_path(d), "readOnly": True,
        })
    if d.cluster.kafka_tls_secret_name:
        mounts += _tls_mounts(d)
    return mounts


def _tls_mounts(d: Deployment) -> list[dict[str, Any]]:
    by_key: dict[str, PurePosixPath] = {}
    for field, path in d.layout.tls.items():
        if path.is_relative_to(CONFIG_DIR):
            raise ConfigError(
                f"{d.bundle.path}: kafka.security.{field} is {path} in the containers, inside "
                f"the read-only {CONFIG_DIR}; write an absolute path such as /etc/kafka/{path.name}"
            )
        if by_key.get(path.name, path) != path:
            raise ConfigError(
                f"{d.bundle.path}: two TLS files are named {path.name}; the Secret "
                f"{d.cluster.kafka_tls_secret_name} holds one key per file name"
            )
        by_key[path.name] = path
    return [
        {"name": TLS_VOLUME, "mountPath": str(path), "subPath": key, "readOnly": True}
        for key, path in by_key.items()
    ]
