"""Where a pipeline's files live inside the cluster's containers, and the command that runs it.

The pipeline YAML is placed at ``/config/pipeline.yaml`` unchanged, so every relative path in it
(the model, TLS files) resolves against ``/config`` there, as it resolves against the YAML's
folder here: ``../models/fraud.onnx`` becomes ``/models/fraud.onnx``.
"""

from __future__ import annotations

import posixpath
import shlex
from dataclasses import dataclass
from pathlib import PurePosixPath

from streaminfer.cluster.bundle import PipelineBundle
from streaminfer.errors import ConfigError

CONFIG_DIR = PurePosixPath("/config")
PIPELINE_FILE = CONFIG_DIR / "pipeline.yaml"
TLS_FIELDS = ("ssl_cafile", "ssl_certfile", "ssl_keyfile")


@dataclass(frozen=True)
class Layout:
    """Container paths of the pipeline YAML, its model and its TLS files (by field name)."""

    pipeline: PurePosixPath
    model: PurePosixPath
    tls: dict[str, PurePosixPath]

    @property
    def model_in_config_dir(self) -> PurePosixPath | None:
        """The model's path relative to /config when it lies under it, else None."""
        if self.model.is_relative_to(CONFIG_DIR):
            return self.model.relative_to(CONFIG_DIR)
        return None


def container_path(declared: str, field: str, source: str) -> PurePosixPath:
    """Where ``declared`` (a path as written in the YAML) points when the YAML is at
    /config/pipeline.yaml."""
    if declared.startswith("~"):
        raise ConfigError(
            f"{source}: {field}: {declared!r} starts with '~', which means another home folder "
            "in a container; write the path relative to the YAML file (or absolute)"
        )
    joined = posixpath.normpath(posixpath.join(str(CONFIG_DIR), declared.replace("\\", "/")))
    path = PurePosixPath(joined)
    if path in (PurePosixPath("/"), CONFIG_DIR, PIPELINE_FILE):
        raise ConfigError(
            f"{source}: {field}: {declared!r} would be {path} in the cluster's containers; "
            "name a file elsewhere"
        )
    return path


def layout_of(bundle: PipelineBundle) -> Layout:
    """The container layout of ``bundle``."""
    source = str(bundle.path)
    model = container_path(str(bundle.declared.model.path), "model.path", source)
    security = bundle.declared.kafka.security
    tls = {}
    for field in TLS_FIELDS:
        value = getattr(security, field)
        if value is not None:
            tls[field] = container_path(str(value), f"kafka.security.{field}", source)
    return Layout(pipeline=PIPELINE_FILE, model=model, tls=tls)


def run_command(pipeline: str, *, check_only: bool = False) -> str:
    """The shell command that runs (or only checks) the pipeline on a node of the cluster.

    ``--address auto`` joins the cluster the command runs in (a Ray job's driver has
    RAY_ADDRESS set; without it ``streaminfer run`` would start a private local Ray).
    """
    if check_only:
        return f"streaminfer validate-config {shlex.quote(pipeline)}"
    return f"streaminfer run {shlex.quote(pipeline)} --address auto --no-live"
