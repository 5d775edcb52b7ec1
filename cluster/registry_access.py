"""How a cluster's pods reach the model registry that a pipeline's ``models:/...`` paths name.

A registry reference is not a file: nothing ships, and the driver resolves it from the
registry when the pipeline starts on the cluster (as it does here). The tracking URI comes
from the YAML's ``registry.tracking_uri`` (it travels inside the YAML) or from
``MLFLOW_TRACKING_URI`` (it may hold credentials: it reaches the pods from a Kubernetes Secret
and is never written into a rendered file, a warning or an error). A URI only this machine can
reach (a SQLite or file store, a loopback server) is refused with the way out.

>>> local_store("sqlite:///mlflow.db"), local_store("http://mlflow:5000")
('a SQLite file on this machine', None)
>>> local_store("https://127.0.0.1:5000")
'a server on this machine (127.0.0.1)'
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from streaminfer.cluster.bundle import PipelineBundle
from streaminfer.errors import ConfigError
from streaminfer.pipelines.spec.training_spec import DEFAULT_TRACKING_URI

TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
#: MLflow's credentials for a tracking server, passed on to the pods when the Secret has them.
CREDENTIAL_ENV = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD",
                  "MLFLOW_TRACKING_TOKEN")
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1", "0.0.0.0")


@dataclass(frozen=True)
class RegistryAccess:
    """The pipeline's registry references and where the pods take the tracking URI from."""

    refs: tuple[str, ...]  # "model: models:/bc@champion", ...
    uri_from_env: bool  # True: MLFLOW_TRACKING_URI from the Secret; False: the YAML's

    def env_names(self) -> list[str]:
        """The variables the pods take from the registry Secret (the URI's only when the
        YAML does not name it; the credentials when the Secret holds them)."""
        return ([TRACKING_URI_ENV] if self.uri_from_env else []) + list(CREDENTIAL_ENV)


def local_store(uri: str) -> str | None:
    """What makes ``uri`` reachable from this machine only, or ``None``."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        return "a SQLite file on this machine"
    if scheme in ("", "file") or len(scheme) == 1:  # a path (a drive letter on Windows)
        return "a folder on this machine"
    if parts.hostname in LOOPBACK_HOSTS:
        return f"a server on this machine ({parts.hostname})"
    return None


def registry_access(bundle: PipelineBundle) -> RegistryAccess | None:
    """How the pods reach the registry (``None``: no model names one); a ConfigError, in one
    line, when the tracking URI is one the cluster cannot reach."""
    refs = tuple(f"{m.field}: {m.ref}" for m in bundle.models if m.ref is not None)
    if not refs:
        return None
    section = bundle.spec.registry
    configured = section.tracking_uri if section is not None else None
    env = os.environ.get(TRACKING_URI_ENV) or None
    uri = configured or env or DEFAULT_TRACKING_URI
    where = local_store(uri)
    if where is not None:
        named = (f"registry.tracking_uri ({uri})" if configured else
                 f"{TRACKING_URI_ENV} (not shown)" if env else
                 f"the default tracking URI {DEFAULT_TRACKING_URI}")
        raise ConfigError(
            f"{bundle.path}: {refs[0]} is resolved by the cluster's pods from the model "
            f"registry, but {named} is {where}, which they cannot reach; set "
            f"registry.tracking_uri in the pipeline YAML (or {TRACKING_URI_ENV} here) to a "
            "tracking server the cluster reaches (e.g. http://mlflow.<namespace>.svc:5000), "
            "or name a model file instead of models:/"
        )
    return RegistryAccess(refs, uri_from_env=configured is None)
