"""Things a rendered deployment will do that a user may not expect: warnings, not errors."""

from __future__ import annotations

from streaminfer.cluster.deployment import Deployment
from streaminfer.cluster.plan import GPU_PROVIDERS
from streaminfer.cluster.secrets import secret_env_names
from streaminfer.errors import ConfigError


def deployment_warnings(d: Deployment) -> list[str]:
    """One line per surprise; raises ConfigError for a combination that cannot work."""
    spec, cluster, layout = d.bundle.spec, d.cluster, d.layout
    notes: list[str] = []
    if spec.kafka.is_embedded:
        notes.append(
            "kafka.bootstrap_servers is 'embedded': the development broker would run inside "
            "the driver on the head, keep every record in memory only, and listen on "
            f"{spec.kafka.embedded.host} (workers on other nodes cannot reach a loopback "
            "address); give the address of a real Kafka for a cluster"
        )
    if cluster.ship_model is False:
        if layout.model_in_config_dir is not None:
            raise ConfigError(
                f"{d.bundle.path}: model.path is {layout.model} in the containers, inside the "
                "ConfigMap mount /config, where an image cannot provide it; with ship_model: "
                "false write a path outside the YAML's folder (e.g. an absolute /models/...)"
            )
        notes.append(
            f"ship_model is false: the image (or a volume) must provide the model at "
            f"{layout.model}"
        )
    if layout.tls and not cluster.kafka_tls_secret_name:
        files = ", ".join(str(p) for p in layout.tls.values())
        notes.append(
            f"the pipeline reads TLS files ({files}); set kafka_tls_secret_name in the cluster "
            "description to mount them from a Secret, or bake them into the image"
        )
    names = secret_env_names(spec)
    if names:
        notes.append(
            f"Kafka secrets come from the environment ({', '.join(names)}): create the Secret "
            f"{cluster.kafka_secret_name} with those keys for KubeRay; on a `ray up` cluster set "
            "them on every node"
        )
    providers = spec.model.providers
    if d.plan.gpu is not None and providers != "auto" and not any(
        p in GPU_PROVIDERS for p in providers
    ):
        notes.append("GPU workers are asked for, but model.providers lists no GPU provider")
    return notes
