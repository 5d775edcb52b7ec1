"""Render a pipeline onto a cluster: the four deployment files, as YAML text."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from streaminfer.cluster.bundle import PipelineBundle, load_bundle
from streaminfer.cluster.checks import deployment_warnings
from streaminfer.cluster.deployment import Deployment, prepare
from streaminfer.cluster.kuberay import render_configmap, render_raycluster, render_rayjob
from streaminfer.cluster.launcher import render_launcher
from streaminfer.cluster.spec import ClusterSpec
from streaminfer.errors import ConfigError

RENDERERS: dict[str, Callable[[Deployment], dict[str, Any]]] = {
    "ray-cluster.yaml": render_launcher,
    "raycluster.yaml": render_raycluster,
    "rayjob.yaml": render_rayjob,
    "configmap.yaml": render_configmap,
}


@dataclass(frozen=True)
class Rendered:
    """File name -> YAML text, and the warnings a user should read."""

    files: dict[str, str]
    warnings: list[str] = field(default_factory=list)


class _BlockDumper(yaml.SafeDumper):
    """SafeDumper that writes multi-line strings (the pipeline YAML) as literal blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str)


def dump_yaml(data: dict[str, Any]) -> str:
    """YAML text in the order the mapping was built; reads back with yaml.safe_load."""
    return yaml.dump(data, Dumper=_BlockDumper, sort_keys=False, width=4096,
                     default_flow_style=False, allow_unicode=True)


def render_bundle(bundle: PipelineBundle, cluster: ClusterSpec) -> Rendered:
    deployment = prepare(bundle, cluster)
    warnings = deployment_warnings(deployment)
    files = {name: dump_yaml(render(deployment)) for name, render in RENDERERS.items()}
    return Rendered(files=files, warnings=warnings)


def render_pipeline(pipeline: str | Path, cluster: ClusterSpec) -> Rendered:
    """Read and check the pipeline YAML, then render every deployment file."""
    return render_bundle(load_bundle(pipeline), cluster)


def write_rendered(rendered: Rendered, out_dir: str | Path) -> list[Path]:
    """Write the files into ``out_dir`` (created if missing); returns their paths."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, text in rendered.files.items():
            path = out / name
            path.write_text(text, encoding="utf-8")
            paths.append(path)
    except OSError as exc:
        raise ConfigError(f"{out}: cannot write the rendered files: {exc.strerror}") from None
    return paths
