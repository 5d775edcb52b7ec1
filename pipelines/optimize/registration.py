"""Registering an optimized variant with its lineage.

Until the MLflow registry (``pipelines/training/registry.py``) is wired in here, a version is
a folder beside the variant: ``<variant's folder>/registered/<name>/<version>/`` holding
``model.onnx``, ``model.onnx.sha256`` and ``metadata.json``. A pipeline serves it by
``model.path: .../registered/<name>/<version>/model.onnx``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from streaminfer.operators.model_runner import read_model_file, sha256_hex, write_model_file


def register_variant(model_name: str, onnx_path: Path, *, parent: str, technique: str,
                     settings: dict[str, Any], measured: dict[str, Any]) -> str:
    """Store ``onnx_path`` as the next version of ``model_name`` with its lineage (``parent``:
    the original's reference and sha256; the technique, its settings and the measured numbers);
    return the path of the registered model file."""
    data = read_model_file(onnx_path)
    root = onnx_path.parent / "registered" / model_name
    root.mkdir(parents=True, exist_ok=True)
    versions = [int(p.name) for p in root.iterdir() if p.name.isdigit()]
    version = str(max(versions, default=0) + 1)
    folder = root / version
    folder.mkdir()
    digest = sha256_hex(data)
    write_model_file(data, folder / "model.onnx")
    metadata = {
        "name": model_name, "version": version, "sha256": digest,
        "registered_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "lineage": {"parent": parent, "technique": technique, "settings": settings,
                    "source_file": str(onnx_path)},
        "measured": measured,
    }
    (folder / "metadata.json").write_text(json.dumps(metadata, indent=2, default=str) + "\n")
    return str(folder / "model.onnx")
