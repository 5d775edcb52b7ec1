"""A Ray cluster launcher YAML (`ray up`) on AWS, running the streaminfer images in Docker.

The head runs the driver and no actors (0 CPUs); the CPU node type holds the source workers
and Serve replicas that need no GPU; a GPU node type is added when GPUs are asked for. The
pipeline YAML and its models are copied to the same container paths the KubeRay manifests use,
so
``ray exec ray-cluster.yaml 'streaminfer run /config/pipeline.yaml --address auto'`` works.
Secrets are not in this file: set them in the nodes' environment (see docs/deployment.md).
"""

from __future__ import annotations

import shlex
from typing import Any

from streaminfer.cluster.deployment import Deployment
from streaminfer.cluster.plan import GPU_NODE_ENV

HEAD_TYPE = "head"
GCS_PORT = 6379
CLIENT_PORT = 10001


def _node_types(d: Deployment) -> dict[str, Any]:
    """The head, the CPU group and (if planned) the GPU group, as `ray up` node types."""
    plan, launcher = d.plan, d.cluster.launcher
    node_types: dict[str, Any] = {
        HEAD_TYPE: {
            "resources": {"CPU": 0},
            "node_config": {"InstanceType": launcher.head_instance_type},
        },
        plan.cpu.name: {
            "min_workers": plan.cpu.min_replicas,
            "max_workers": plan.cpu.max_replicas,
            "resources": {"CPU": plan.cpu.cpus},
            "node_config": {"InstanceType": launcher.cpu_instance_type},
        },
    }
    if plan.gpu is not None:
        node_types[plan.gpu.name] = {
            "min_workers": plan.gpu.min_replicas,
            "max_workers": plan.gpu.max_replicas,
            "resources": {"CPU": plan.gpu.cpus, "GPU": plan.gpu.gpus,
                          **plan.gpu.custom_resources},
            "node_config": {"InstanceType": launcher.gpu_instance_type},
            # Ray adds --runtime=nvidia itself when the host has the NVIDIA runtime.
            "docker": {
                "worker_image": plan.gpu.image,
                "worker_run_options": [f"--env={k}={v}" for k, v in GPU_NODE_ENV.items()],
            },
        }
    return node_types


def render_launcher(d: Deployment) -> dict[str, Any]:
    """The `ray up` config as a mapping (dump it with yaml.safe_dump)."""
    plan, launcher = d.plan, d.cluster.launcher
    file_mounts = {str(d.layout.pipeline): str(d.bundle.path)}
    file_mounts.update({str(m.container): str(m.local) for m in d.models})
    pip = " ".join(shlex.quote(req) for req in d.cluster.pip)
    return {
        "cluster_name": plan.name,
        "max_workers": sum(group.max_replicas for group in plan.groups),
        "upscaling_speed": 1.0,
        "idle_timeout_minutes": launcher.idle_timeout_minutes,
        "docker": {
            "image": d.cluster.image,
            "container_name": "streaminfer",
            "pull_before_run": True,
            # Root in the container: the launcher copies files to /config and the model's
            # folder, and the images' own user may not write there. The VM hosts only this.
            "run_options": ["--ulimit nofile=65536:65536", "--user=root"],
        },
        "provider": {"type": "aws", "region": launcher.region, "cache_stopped_nodes": False},
        "auth": {"ssh_user": launcher.ssh_user},
        "available_node_types": _node_types(d),
        "head_node_type": HEAD_TYPE,
        "file_mounts": file_mounts,
        "setup_commands": [f"pip install --quiet {pip}"] if pip else [],
        # The autoscaler on the head talks to EC2.
        "head_setup_commands": ["pip install --quiet 'boto3>=1.26'"],
        "head_start_ray_commands": [
            "ray stop",
            "ulimit -n 65536; ray start --head --num-cpus=0 "
            f"--port={GCS_PORT} --ray-client-server-port={CLIENT_PORT} "
            "--object-manager-port=8076 --autoscaling-config=~/ray_bootstrap_config.yaml "
            "--dashboard-host=127.0.0.1",
        ],
        "worker_start_ray_commands": [
            "ray stop",
            f"ulimit -n 65536; ray start --address=$RAY_HEAD_IP:{GCS_PORT} "
            "--object-manager-port=8076",
        ],
    }
