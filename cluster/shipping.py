"""The model files that travel in the pipeline's ConfigMap: one entry per distinct file.

Several models may name one file (an A/B split of the same model with other settings); it
ships once. Each file gets a ConfigMap key of its own (keys are flat names, so a model's
folder is not part of it), and all of them together, base64-encoded as Kubernetes stores
binaryData, plus the pipeline YAML must fit one ConfigMap.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from streaminfer.cluster.bundle import PipelineBundle
from streaminfer.cluster.layout import Layout, in_config_dir
from streaminfer.errors import ConfigError

# etcd refuses objects over 1 MiB; leave room for the object's metadata.
CONFIGMAP_LIMIT = 1_000_000
PIPELINE_KEY = "pipeline.yaml"


@dataclass(frozen=True)
class ShippedModel:
    """One model file in the ConfigMap: its key, where it goes, where it is here, its bytes."""

    key: str
    container: PurePosixPath
    local: Path
    data: bytes

    @property
    def item_path(self) -> str:
        """Where the ConfigMap volume projects it: at its place under /config when it lies
        there, else under its key (and a subPath mount puts it where it belongs)."""
        inside = in_config_dir(self.container)
        return str(inside) if inside is not None else self.key


def ship_models(bundle: PipelineBundle, layout: Layout) -> tuple[ShippedModel, ...]:
    """Read (and sha256-check) every model file once; refuses a total too large to ship."""
    by_place: dict[PurePosixPath, ShippedModel] = {}
    taken = {PIPELINE_KEY} | {
        str(inside) for path in layout.models.values()
        if (inside := in_config_dir(path)) is not None
    }
    for ref in bundle.file_models:
        data = bundle.model_bytes(ref)  # every model is checked, even one sharing a file
        place = layout.models[ref.field]
        if place not in by_place:
            key = _key(place, taken)
            taken.add(key)
            by_place[place] = ShippedModel(key=key, container=place, local=ref.local, data=data)
    shipped = tuple(by_place.values())
    size = sum(len(base64.b64encode(m.data)) for m in shipped) + len(bundle.text.encode())
    if size > CONFIGMAP_LIMIT:
        files = ", ".join(f"{m.local} ({len(m.data):,} bytes)" for m in shipped)
        places = ", ".join(str(m.container) for m in shipped)
        raise ConfigError(
            f"{bundle.path}: the model files are too large for a ConfigMap together: {files} "
            "(about 700 KiB of models at most, all models counted); set ship_model: false in "
            "the cluster description and bake the models into the image (or mount a volume) "
            f"at {places}"
        )
    return shipped


def _key(place: PurePosixPath, taken: set[str]) -> str:
    """A ConfigMap key (letters, digits, '-', '_', '.') for a file, unlike any in ``taken``."""
    stem = re.sub(r"[^-._A-Za-z0-9]", "_", place.name)[:200].lstrip(".") or "model"
    key, n = f"model-{stem}", 2
    while key in taken:
        key, n = f"model-{n}-{stem}", n + 1
    return key
