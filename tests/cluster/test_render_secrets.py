"""Rendering: SASL and TLS secrets come from Kubernetes secrets and never appear."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from streaminfer.errors import ConfigError
from tests.fixtures.rendering import (
    containers,
    pod_specs,
    render,
)


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
