"""The loop demo's model registry: a fresh local MLflow store (a SQLite file, no server) with
the demo model as version 1, aliased ``champion``.

The store lives in the folder of the YAML's ``registry.tracking_uri`` (``.demo-loop/`` under
the current folder for ``configs/demo-loop.yaml``). Each start empties it, since the embedded
broker starts empty too; a folder this module did not create is never emptied.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from streaminfer.errors import ConfigError
from streaminfer.operators.profile import profile_path
from streaminfer.pipelines.devtools.example_models import build
from streaminfer.pipelines.lifecycle.registry import Lineage, ModelVersion, Registry
from streaminfer.pipelines.lifecycle.roles import CHAMPION
from streaminfer.pipelines.spec.schema import PipelineSpec

#: The file that marks a folder as the loop demo's own (so it may be emptied).
MARKER = ".streaminfer-demo-loop"
#: What a store holds before the demo marked it (e.g. `streaminfer validate-config` made it).
MLFLOW_FILES = {"mlflow.db", "mlartifacts", "cache"}
#: The example model registered as version 1.
EXAMPLE = "breast_cancer"


def store_folder(spec: PipelineSpec) -> Path:
    """The folder of the YAML's SQLite store; an error for any other registry (the demo
    empties its store and must not touch a team's)."""
    uri = spec.registry.tracking_uri if spec.registry else None
    prefix = "sqlite:///"
    if uri is None or not uri.startswith(prefix):
        raise ConfigError("the loop demo needs registry.tracking_uri: sqlite:///FOLDER/mlflow.db "
                          f"in its YAML (a store of its own, emptied at each start); got {uri}")
    return Path(uri[len(prefix):]).resolve().parent


def fresh_store(folder: Path) -> None:
    """Empty ``folder`` if this module made it (or it holds only an MLflow store); create it
    (marked) otherwise."""
    if folder.exists():
        entries = {entry.name for entry in folder.iterdir()}
        if MARKER not in entries and not entries <= MLFLOW_FILES:
            raise ConfigError(f"{folder} exists and is not the loop demo's registry folder "
                              f"(no {MARKER} in it): choose another registry.tracking_uri")
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / MARKER).write_text("the loop demo's model registry; emptied at each start\n")


def seed_registry(spec: PipelineSpec, models_dir: Path) -> tuple[Registry, ModelVersion]:
    """A fresh store holding the demo model (trained into ``models_dir`` if missing) as
    version 1 of the YAML's ``models:/NAME@champion``, with its training profile."""
    model = spec.model_specs[0]
    ref = model.registry_ref
    if ref is None or ref.alias != CHAMPION:
        raise ConfigError(f"the loop demo's model.path must be models:/NAME@{CHAMPION} "
                          f"(got {model.path})")
    fresh_store(store_folder(spec))
    path = build(EXAMPLE, models_dir)
    registry = Registry.from_spec(spec.registry)
    version = registry.register_model(ref.name, path, metrics={}, lineage=Lineage("import"),
                                      profile_path=profile_path(path))
    registry.set_alias(ref.name, CHAMPION, version.version)
    return registry, version
