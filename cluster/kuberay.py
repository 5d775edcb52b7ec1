"""KubeRay manifests: the pipeline's ConfigMap, a RayCluster, and a RayJob that runs it there.

Secrets never appear in a manifest: each Kafka secret reaches the pods as an environment
variable taken from a Kubernetes Secret (``env.valueFrom.secretKeyRef``), and TLS files are
mounted from another Secret.
"""

from __future__ import annotations

import base64
import json
from importlib.metadata import version
from typing import Any

from streaminfer.cluster.deployment import Deployment
from streaminfer.cluster.kuberay_storage import mounts, volumes
from streaminfer.cluster.layout import run_command
from streaminfer.cluster.plan import GPU_NODE_ENV, GroupPlan
from streaminfer.cluster.registry_access import TRACKING_URI_ENV
from streaminfer.cluster.secrets import secret_env_names
from streaminfer.cluster.shipping import PIPELINE_KEY

RAY_API = "ray.io/v1"
HEAD_PORTS = {"gcs-server": 6379, "dashboard": 8265, "client": 10001}
SERVE_PORT_NAME = "serve"  # KubeRay's name for Serve's HTTP port on the head Service


def labels(d: Deployment) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "streaminfer",
        "app.kubernetes.io/instance": d.plan.name,
        "app.kubernetes.io/part-of": d.bundle.spec.name,
    }


def _metadata(d: Deployment, name: str) -> dict[str, Any]:
    return {"name": name, "namespace": d.plan.namespace, "labels": labels(d)}


def render_configmap(d: Deployment) -> dict[str, Any]:
    """The pipeline YAML, byte for byte, and (when they ship) the model files."""
    manifest: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(d, d.configmap_name),
        "data": {PIPELINE_KEY: d.bundle.text},
    }
    if d.models:
        manifest["binaryData"] = {
            m.key: base64.b64encode(m.data).decode("ascii") for m in d.models
        }
    return manifest


def render_raycluster(d: Deployment) -> dict[str, Any]:
    """A RayCluster: a head that runs no actors, a CPU group, and a GPU group when asked."""
    plan = d.plan
    head_container = _container(
        d, "ray-head", d.cluster.image, cpus=plan.head_cpus, memory=plan.head_memory, gpus=0
    )
    ports = dict(HEAD_PORTS)
    http = d.bundle.spec.http
    if http.enabled:
        # KubeRay gives the head Service (<name>-head-svc) one port per head container port.
        ports[SERVE_PORT_NAME] = http.port
    head_container["ports"] = [
        {"name": name, "containerPort": port} for name, port in ports.items()
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
    extra = group.custom_resources
    if extra:
        # KubeRay's form: a JSON object in double quotes, its own quotes escaped.
        params["resources"] = '"' + json.dumps(extra).replace('"', '\\"') + '"'
    container = _container(
        d, "ray-worker", group.image, cpus=group.cpus, memory=group.memory, gpus=group.gpus
    )
    template = _pod_template(d, container)
    if group.gpus:
        container.setdefault("env", []).extend(
            {"name": name, "value": value} for name, value in GPU_NODE_ENV.items()
        )
        template["spec"]["tolerations"] = [
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
        ]
        if d.cluster.gpu_workers.node_selector:
            template["spec"]["nodeSelector"] = dict(d.cluster.gpu_workers.node_selector)
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
        "volumeMounts": mounts(d),
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
    env += _registry_env(d)
    if env:
        container["env"] = env
    return container


def _registry_env(d: Deployment) -> list[dict[str, Any]]:
    """The registry's tracking URI and credentials from their Secret: the URI is required
    when the YAML does not name it, the credentials are taken when the Secret has them."""
    if d.registry is None:
        return []
    return [
        {
            "name": name,
            "valueFrom": {"secretKeyRef": {"name": d.cluster.registry_secret_name, "key": name,
                                           **({} if name == TRACKING_URI_ENV
                                              else {"optional": True})}},
        }
        for name in d.registry.env_names()
    ]


def _pod_template(d: Deployment, container: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"labels": labels(d)},
        "spec": {"containers": [container], "volumes": volumes(d)},
    }
