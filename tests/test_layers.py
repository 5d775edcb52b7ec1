"""The layers import downward only, and the pure core imports no framework.

From the bottom: ``operators`` (the pure core), ``spec`` (the YAML schema), ``process`` (what a
long-running process needs: ports, signals, heap), ``kafka`` (Kafka I/O), ``lifecycle`` (versions,
registry, rules, retraining), ``runtime`` (the loop, actors, pools, model store, Serve), then the
pipeline kinds as composition. A module may import its own folder, any folder of a lower layer and
the root modules (``errors``, ``waiting``); never a folder of its own layer or above.
docs/architecture.md draws the same picture.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

import streaminfer

_spec = importlib.util.spec_from_file_location(
    "import_graph", Path(__file__).with_name("test_imports.py"))
assert _spec is not None and _spec.loader is not None
_graph_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_graph_module)
graph, modules = _graph_module.graph, _graph_module.modules

#: Bottom first. Folders in one tuple are one layer: they do not import each other.
LAYERS: list[tuple[str, ...]] = [
    ("operators",),
    ("pipelines.spec",),
    ("pipelines.process",),
    ("pipelines.kafka",),
    ("pipelines.lifecycle",),
    ("pipelines.runtime",),
    ("pipelines.feedback", "pipelines.rollout"),
    ("pipelines.online",),
    ("pipelines.batch", "pipelines.validation", "pipelines.optimize"),
    ("pipelines.devtools",),
    ("cluster",),
    ("api",),
    ("cli",),
]
ROOT_MODULES = {"streaminfer", "streaminfer.errors", "streaminfer.waiting"}
FRAMEWORKS = ("ray", "kafka", "mlflow", "prometheus_client", "rich")


def folder_of(module: str) -> str:
    """A module's layer folder: ``pipelines.kafka`` for ``streaminfer.pipelines.kafka.sink``."""
    parts = module.split(".")[1:]
    return ".".join(parts[:2]) if parts[0] == "pipelines" else parts[0]


RANK = {folder: rank for rank, layer in enumerate(LAYERS) for folder in layer}


def test_every_folder_has_a_layer() -> None:
    folders = {folder_of(m) for m in modules() if m not in ROOT_MODULES}
    folders.discard("pipelines")
    assert folders - set(RANK) == set(), "add the new folder to LAYERS (and docs/architecture.md)"


def test_imports_point_down() -> None:
    wrong = []
    for module, targets in graph().items():
        if module in ROOT_MODULES or folder_of(module) not in RANK:
            continue
        here = folder_of(module)
        for target in targets:
            if target in ROOT_MODULES or target == "streaminfer.pipelines":
                continue
            there = folder_of(target)
            if there != here and RANK[there] >= RANK[here]:
                wrong.append(f"{module} -> {target}")
    assert wrong == []


def third_party_imports(folder: str) -> list[tuple[str, str]]:
    """(file, top-level package) of every import in a folder's modules, function-level too."""
    found = []
    for path in sorted((Path(streaminfer.__file__).resolve().parent / folder).glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [(path.name, n.split(".")[0]) for n in names]
    return found


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_the_core_imports_no_framework(framework: str) -> None:
    assert [f for f, top in third_party_imports("operators") if top == framework] == []


@pytest.mark.parametrize("folder", ["pipelines/spec", "pipelines/process", "pipelines/kafka",
                                    "pipelines/lifecycle", "pipelines/runtime"])
def test_only_screens_draw_with_rich(folder: str) -> None:
    """The library layers report through return values and logging; rich is for the screens
    of the kinds and the CLI."""
    assert [f for f, top in third_party_imports(folder) if top == "rich"] == []
