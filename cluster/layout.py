"""Where a pipeline's files live inside the cluster's containers, and the command that runs it.

The pipeline YAML is placed at ``/config/pipeline.yaml`` unchanged, so every relative path in it
(the models, TLS files) resolves against ``/config`` there, as it resolves against the YAML's
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


@dataclass(frozen=True)
class Layout:
    """Container paths of the pipeline YAML, its models (by YAML field, ``model`` or
    ``models[i]``) and its TLS files (by field name)."""

    pipeline: PurePosixPath
    models: dict[str, PurePosixPath]
    tls: dict[str, PurePosixPath]


def in_config_dir(path: PurePosixPath) -> PurePosixPath | None:
    """``path`` relative to /config when it lies under it, else None."""
    return path.relative_to(CONFIG_DIR) if path.is_relative_to(CONFIG_DIR) else None


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
    models = {
        ref.field: container_path(ref.declared, f"{ref.field}.path", source)
        for ref in bundle.file_models
    }
    security = bundle.declared.kafka.security
    tls = {
        field: container_path(str(value), f"kafka.security.{field}", source)
        for field, value in security.tls_files().items()
    }
    return Layout(pipeline=PIPELINE_FILE, models=models, tls=tls)


def run_command(pipeline: str, *, check_only: bool = False) -> str:
    """The shell command that runs (or only checks) the pipeline on a node of the cluster.

    ``--address auto`` joins the cluster the command runs in (a Ray job's driver has
    RAY_ADDRESS set; without it ``streaminfer run`` would start a private local Ray).
    """
    if check_only:
        return f"streaminfer validate-config {shlex.quote(pipeline)}"
    return f"streaminfer run {shlex.quote(pipeline)} --address auto --no-live"
