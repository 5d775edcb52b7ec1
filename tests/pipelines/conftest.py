"""Fixtures shared by the pipeline test folders: a model registry of the test's own."""

from __future__ import annotations

from pathlib import Path

import pytest

from streaminfer.pipelines.training.registry import Registry


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    """A registry of its own: a SQLite store and an artifact folder under tmp_path."""
    return Registry(f"sqlite:///{tmp_path / 'registry' / 'mlflow.db'}",
                    cache_dir=tmp_path / "model-cache")
