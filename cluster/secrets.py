"""The environment variables that carry a pipeline's Kafka secrets (their names, never values)."""

from __future__ import annotations

from streaminfer.pipelines.spec.schema import PipelineSpec


def secret_env_names(spec: PipelineSpec) -> list[str]:
    """Names of the variables the pipeline reads its Kafka secrets from, in a stable order.

    Exactly those that ``kafka_settings.client_config`` reads for the configured protocol: the
    SASL username and password for SASL_*, the key password for *SSL.
    """
    sec = spec.kafka.security
    names: list[str | None] = []
    if sec.protocol.startswith("SASL"):
        names += [sec.sasl_username_env, sec.sasl_password_env]
    if sec.protocol.endswith("SSL"):
        names.append(sec.ssl_password_env)
    return list(dict.fromkeys(n for n in names if n))
