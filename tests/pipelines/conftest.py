"""Fixtures shared by the pipeline kinds' tests: a model registry in a temporary store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from streaminfer.pipelines.training.registry import Registry


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    """A registry of its own: a SQLite store and an artifact folder under tmp_path."""
    return Registry(f"sqlite:///{tmp_path / 'registry' / 'mlflow.db'}",
                    cache_dir=tmp_path / "model-cache")


def registry_section(registry: Registry) -> dict[str, Any]:
    """The YAML's ``registry`` section naming ``registry``."""
    return {"tracking_uri": registry.uri, "cache_dir": str(registry.cache_dir)}
