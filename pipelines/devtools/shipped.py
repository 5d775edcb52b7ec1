"""The demo's pipeline YAMLs, found from any folder: ``configs/<name>`` in the current folder
when there is one (a clone of the project), else the copy the package ships.

The shipped copy is read as if it sat at ``./configs/<name>``, so what it writes lands in
folders the user owns, as in a clone: the model in ``./models/``, the loop demo's registry
in ``./.demo-loop/``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from streaminfer.pipelines.spec.loader import load_spec, parse_spec
from streaminfer.pipelines.spec.schema import PipelineSpec

#: The folder, beside the current folder's files and inside the package, that holds them.
CONFIGS = "configs"


def demo_config_name(loop: bool, pictures: bool = False) -> str:
    """The file name of the demo's (with ``loop`` the loop demo's, with ``pictures`` the
    pictures demo's) YAML."""
    return "demo-pictures.yaml" if pictures else "demo-loop.yaml" if loop else "demo.yaml"


def shipped_text(name: str) -> str:
    """The text of the packaged ``configs/<name>``."""
    return (resources.files("streaminfer") / CONFIGS / name).read_text(encoding="utf-8")


def config_text(name: str) -> tuple[str, str, Path]:
    """``configs/<name>`` here, else the packaged copy (anchored at ``./configs``): its text,
    where it came from and the folder its relative paths resolve against."""
    local = Path(CONFIGS) / name
    if local.exists():
        return local.read_text(encoding="utf-8"), str(local), local.resolve().parent
    return (shipped_text(name), f"{local} (the copy shipped with streaminfer)",
            Path.cwd() / CONFIGS)


def load_demo_spec(config: Path | None, *, loop: bool = False, pictures: bool = False
                   ) -> tuple[PipelineSpec, str]:
    """The demo's spec and where it came from: ``config`` when given, else
    ``configs/demo[-loop|-pictures].yaml`` here, else the packaged copy (anchored at
    ``./configs``)."""
    if config is not None:
        return load_spec(config), str(config)
    text, source, base = config_text(demo_config_name(loop, pictures))
    return parse_spec(text, source=source, base=base), source
