"""Things a rendered deployment will do that a user may not expect: warnings, not errors."""

from __future__ import annotations

from streaminfer.cluster.deployment import Deployment
from streaminfer.cluster.gpu_checks import gpu_warnings
from streaminfer.cluster.layout import in_config_dir
from streaminfer.cluster.registry_access import CREDENTIAL_ENV, TRACKING_URI_ENV
from streaminfer.cluster.secrets import secret_env_names
from streaminfer.errors import ConfigError

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def deployment_warnings(d: Deployment) -> list[str]:
    """One line per surprise; raises ConfigError for a combination that cannot work."""
    return [
        *_kafka(d),
        *_unshipped_models(d),
        *_registry(d),
        *_http(d),
        *gpu_warnings(d),
    ]


def _kafka(d: Deployment) -> list[str]:
    spec, cluster, layout = d.bundle.spec, d.cluster, d.layout
    notes = []
    if spec.kafka.is_embedded:
        notes.append(
            "kafka.bootstrap_servers is 'embedded': the development broker would run inside "
            "the driver on the head, keep every record in memory only, and listen on "
            f"{spec.kafka.embedded.host} (workers on other nodes cannot reach a loopback "
            "address); give the address of a real Kafka for a cluster"
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
    return notes


def _unshipped_models(d: Deployment) -> list[str]:
    if d.cluster.ship_model or not d.layout.models:
        return []
    for field, path in d.layout.models.items():
        if in_config_dir(path) is not None:
            raise ConfigError(
                f"{d.bundle.path}: {field}.path is {path} in the containers, inside the "
                "ConfigMap mount /config, where an image cannot provide it; with ship_model: "
                "false write a path outside the YAML's folder (e.g. an absolute /models/...)"
            )
    places = ", ".join(sorted({str(p) for p in d.layout.models.values()}))
    return [f"ship_model is false: the image (or a volume) must provide the model(s) at {places}"]


def _registry(d: Deployment) -> list[str]:
    access = d.registry
    if access is None:
        return []
    uri = (f"create the Secret {d.cluster.registry_secret_name} with the key "
           f"{TRACKING_URI_ENV} (the pods take the tracking URI from it; it is in no rendered "
           "file)" if access.uri_from_env else
           "the pods use the YAML's registry.tracking_uri")
    return [
        f"{', '.join(access.refs)}: resolved from the model registry when the pipeline "
        f"starts on the cluster (nothing ships): {uri}; the Secret's "
        f"{'/'.join(CREDENTIAL_ENV)} keys are passed on if present; the pods must reach the "
        f"registry's artifact store too; on a `ray up` cluster set "
        f"{TRACKING_URI_ENV if access.uri_from_env else 'those variables'} on every node"
    ]


def _http(d: Deployment) -> list[str]:
    http = d.bundle.spec.http
    if not http.enabled or http.host not in LOOPBACK:
        return []
    return [
        f"http.host is {http.host}: inside a pod that is the pod itself, so only it (and "
        f"`kubectl port-forward`) reaches the HTTP endpoint on port {http.port}; for "
        f"in-cluster access through the Service {d.plan.name}-head-svc:{http.port}, set "
        "http.host: 0.0.0.0 in the pipeline YAML"
    ]
