"""The files a KubeRay pod sees: the pipeline ConfigMap at /config (and each model where its
YAML points), a memory-backed /dev/shm, and the Kafka TLS files from a Secret."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from streaminfer.cluster.deployment import Deployment
from streaminfer.cluster.layout import CONFIG_DIR, in_config_dir
from streaminfer.cluster.shipping import PIPELINE_KEY
from streaminfer.errors import ConfigError

PIPELINE_VOLUME = "pipeline"
TLS_VOLUME = "kafka-tls"
SHM_VOLUME = "dshm"


def volumes(d: Deployment) -> list[dict[str, Any]]:
    items = [{"key": PIPELINE_KEY, "path": PIPELINE_KEY}]
    items += [{"key": m.key, "path": m.item_path} for m in d.models]
    result: list[dict[str, Any]] = [
        {"name": PIPELINE_VOLUME, "configMap": {"name": d.configmap_name, "items": items}},
        # Ray's object store lives in /dev/shm; a container's default 64 MiB is too small.
        {"name": SHM_VOLUME, "emptyDir": {"medium": "Memory"}},
    ]
    if d.cluster.kafka_tls_secret_name and d.layout.tls:
        result.append(
            {"name": TLS_VOLUME, "secret": {"secretName": d.cluster.kafka_tls_secret_name}}
        )
    return result


def mounts(d: Deployment) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = [
        {"name": PIPELINE_VOLUME, "mountPath": str(CONFIG_DIR), "readOnly": True},
        {"name": SHM_VOLUME, "mountPath": "/dev/shm"},
    ]
    result += [
        {"name": PIPELINE_VOLUME, "mountPath": str(m.container), "subPath": m.key,
         "readOnly": True}
        for m in d.models if in_config_dir(m.container) is None
    ]
    if d.cluster.kafka_tls_secret_name:
        result += _tls_mounts(d)
    return result


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
