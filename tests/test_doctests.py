"""The examples in docstrings run (those marked +SKIP need a broker or a model file): every
module of the package that has one, found by reading the sources, so none is forgotten."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "streaminfer"


def modules_with_examples() -> list[str]:
    """``streaminfer.<...>`` of every source file under the package holding a ``>>>`` line
    (its folders are links: operators/, pipelines/, cluster/)."""
    found = []
    for top in PACKAGE.iterdir():
        files = [top] if top.suffix == ".py" else top.resolve().rglob("*.py") \
            if top.is_dir() else []
        for path in files:
            if ">>> " in path.read_text():
                inner = path.relative_to(top.resolve()).with_suffix("").parts \
                    if top.is_dir() else (path.stem,)
                stem = (top.name, *inner) if top.is_dir() else inner
                found.append(".".join(("streaminfer", *stem)).removesuffix(".__init__"))
    return sorted(found)


@pytest.mark.parametrize("name", modules_with_examples())
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
