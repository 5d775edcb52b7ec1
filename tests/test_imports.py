"""The import graph of streaminfer has no cycle, between modules nor between packages.

Every module under the package is parsed with ``ast``; an edge is any import of another
streaminfer module, at module level or inside a function (only ``if TYPE_CHECKING:`` blocks are
left out: they never run). A package is the folder a module lives in; the modules directly in
``streaminfer/`` (the public face: ``api``, ``errors``) count one by one.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import streaminfer

ROOT = Path(streaminfer.__file__).resolve().parent
PACKAGE = "streaminfer"


def modules() -> dict[str, Path]:
    """Module name -> file, for every module of the package (through its linked folders)."""
    found: dict[str, Path] = {}
    files = (Path(folder, name) for folder, _, names in os.walk(ROOT, followlinks=True)
             for name in names if name.endswith(".py"))
    for path in sorted(files):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join([PACKAGE, *parts])] = path
    return found


def _runtime_nodes(tree: ast.Module) -> Iterator[ast.AST]:
    """Every node, less the bodies of ``if TYPE_CHECKING:``."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The streaminfer modules that ``name`` imports."""
    is_package = path.name == "__init__.py"
    targets: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")[: len(name.split(".")) - node.level + is_package]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                targets.add(sub if sub in known else base)
    return {t for t in targets if t in known and t != name}


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imports_of(name, path, known) for name, path in found.items()}


def package_of(module: str, known: dict[str, Path]) -> str:
    if known[module].name == "__init__.py" or module.count(".") == 1:
        return module
    return module.rsplit(".", 1)[0]


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_function_level_imports() -> None:
    edges = graph()
    assert "streaminfer.pipelines.spec.loader" in edges["streaminfer.cli.run"]
    assert "streaminfer.errors" in edges["streaminfer.cli.commands"]


def test_no_cycle_between_modules() -> None:
    assert cycles(graph()) == []


def test_no_cycle_between_packages() -> None:
    known = modules()
    packages: dict[str, set[str]] = {}
    for module, targets in graph().items():
        source = package_of(module, known)
        packages.setdefault(source, set()).update(
            package_of(t, known) for t in targets if package_of(t, known) != source
        )
    assert cycles(packages) == []


def top_level(module: str) -> str:
    """The folder (or root module) a module belongs to: operators, pipelines, cluster, cli..."""
    return ".".join(module.split(".")[:2])


def test_no_cycle_between_top_level_folders() -> None:
    """operators -> pipelines -> cluster -> cli, never back: the CLI assembles them all."""
    folders: dict[str, set[str]] = {}
    for module, targets in graph().items():
        source = top_level(module)
        folders.setdefault(source, set()).update(
            top_level(t) for t in targets if top_level(t) != source)
    assert cycles(folders) == []
    assert "streaminfer.cli" not in set().union(*folders.values())


def test_cluster_needs_nothing_of_pipelines_but_the_spec() -> None:
    """Deployment reads pipeline YAMLs; it must not pull in a runtime, the CLI or Serve."""
    reached = {target for module, targets in graph().items()
               if module.startswith("streaminfer.cluster") for target in targets
               if target.startswith("streaminfer.pipelines")}
    assert reached and all(t.startswith("streaminfer.pipelines.spec.") for t in reached), reached


RENDER_ONLY = """
import sys
from pathlib import Path
from streaminfer.cluster.render import render_pipeline
from streaminfer.cluster.spec import ClusterSpec
render_pipeline(Path(sys.argv[1]), ClusterSpec())
heavy = [m for m in ("ray.serve", "streaminfer.pipelines.online.driver",
                     "streaminfer.pipelines.runtime.worker") if m in sys.modules]
print(",".join(heavy))
"""


def test_rendering_manifests_imports_neither_serve_nor_the_runtime(
    repo_config: object,
) -> None:
    assert callable(repo_config)
    pipeline = repo_config("fraud-serve")
    done = subprocess.run(
        [sys.executable, "-c", RENDER_ONLY, str(pipeline)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
