"""client_config(): kafka-python settings from the spec; secrets only from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from streaminfer.errors import ConfigError
from streaminfer.pipelines.spec.kafka_settings import client_config
from streaminfer.pipelines.spec.schema import KafkaSpec

USER_SECRET = "alice-4f9d1c"
PASSWORD_SECRET = "s3cr3t-Pa55-7e2b"
KEY_SECRET = "key-pw-93ad"


def _kafka(**security: object) -> KafkaSpec:
    return KafkaSpec.model_validate(
        {"bootstrap_servers": "k1:9093,k2:9093", "client_id": "scorer",
         "request_timeout_ms": 12_000, "security": security}
    )


@pytest.fixture(autouse=True)
def no_secrets_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TEST_KAFKA_USER", "TEST_KAFKA_PASSWORD", "TEST_KAFKA_KEY_PASSWORD"):
        monkeypatch.delenv(name, raising=False)


SASL = {"protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_username_env": "TEST_KAFKA_USER", "sasl_password_env": "TEST_KAFKA_PASSWORD"}


def test_plaintext() -> None:
    assert client_config(_kafka(), "k1:9093,k2:9093") == {
        "bootstrap_servers": ["k1:9093", "k2:9093"],
        "client_id": "scorer",
        "security_protocol": "PLAINTEXT",
        "request_timeout_ms": 12_000,
    }


def test_the_given_servers_are_used_not_the_specs() -> None:
    # An embedded broker's real address replaces "embedded".
    config = client_config(KafkaSpec(), "127.0.0.1:40123")
    assert config["bootstrap_servers"] == ["127.0.0.1:40123"]
    assert config["client_id"] == "streaminfer"


def test_sasl_secrets_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_KAFKA_USER", USER_SECRET)
    monkeypatch.setenv("TEST_KAFKA_PASSWORD", PASSWORD_SECRET)
    config = client_config(_kafka(**SASL), "k1:9093")
    assert config["security_protocol"] == "SASL_SSL"
    assert config["sasl_mechanism"] == "SCRAM-SHA-512"
    assert config["sasl_plain_username"] == USER_SECRET
    assert config["sasl_plain_password"] == PASSWORD_SECRET
    assert "ssl_password" not in config and "ssl_cafile" not in config


def test_sasl_plaintext_has_no_ssl_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_KAFKA_USER", USER_SECRET)
    monkeypatch.setenv("TEST_KAFKA_PASSWORD", PASSWORD_SECRET)
    config = client_config(_kafka(**{**SASL, "protocol": "SASL_PLAINTEXT",
                                     "ssl_cafile": "/etc/ca.pem"}), "k1:9093")
    assert config["sasl_plain_password"] == PASSWORD_SECRET
    assert not any(key.startswith("ssl_") for key in config)


def test_ssl_files_and_key_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_KAFKA_KEY_PASSWORD", KEY_SECRET)
    kafka = _kafka(protocol="SSL", ssl_cafile="/etc/kafka/ca.pem",
                   ssl_certfile="/etc/kafka/client.pem", ssl_keyfile="/etc/kafka/client.key",
                   ssl_password_env="TEST_KAFKA_KEY_PASSWORD")
    config = client_config(kafka, "k1:9093")
    assert config["security_protocol"] == "SSL"
    assert config["ssl_cafile"] == str(Path("/etc/kafka/ca.pem"))
    assert config["ssl_certfile"] == str(Path("/etc/kafka/client.pem"))
    assert config["ssl_keyfile"] == str(Path("/etc/kafka/client.key"))
    assert config["ssl_password"] == KEY_SECRET
    assert "sasl_mechanism" not in config


def test_ssl_without_client_files() -> None:
    config = client_config(_kafka(protocol="SSL"), "k1:9093")
    assert config["security_protocol"] == "SSL"
    assert not any(key.startswith("ssl_") for key in config)


@pytest.mark.parametrize(
    ("present", "missing", "field"),
    [({"TEST_KAFKA_USER": USER_SECRET}, "TEST_KAFKA_PASSWORD", "sasl_password_env"),
     ({"TEST_KAFKA_PASSWORD": PASSWORD_SECRET}, "TEST_KAFKA_USER", "sasl_username_env")],
)
def test_a_missing_env_variable_is_named_and_no_secret_is_shown(
    monkeypatch: pytest.MonkeyPatch, present: dict[str, str], missing: str, field: str
) -> None:
    for name, value in present.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        client_config(_kafka(**SASL), "k1:9093")
    message = str(info.value)
    assert message == (
        f"kafka.security.{field} names the environment variable {missing}, which is not set; "
        f"export {missing}=... before starting the pipeline"
    )
    for secret in (USER_SECRET, PASSWORD_SECRET):
        assert secret not in message
        assert secret not in repr(info.value)


def test_a_missing_key_password_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_KAFKA_USER", USER_SECRET)
    monkeypatch.setenv("TEST_KAFKA_PASSWORD", PASSWORD_SECRET)
    kafka = _kafka(**SASL, ssl_password_env="TEST_KAFKA_KEY_PASSWORD")
    with pytest.raises(ConfigError) as info:
        client_config(kafka, "k1:9093")
    message = str(info.value)
    assert "kafka.security.ssl_password_env" in message
    assert "TEST_KAFKA_KEY_PASSWORD" in message
    assert USER_SECRET not in message and PASSWORD_SECRET not in message

