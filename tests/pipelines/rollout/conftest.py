"""Fixtures of the rollout tests: the training tests' registry and trainer, two versions
of bc on the same features, and a pipeline that follows models:/bc@champion."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from streaminfer.pipelines.devtools.example_models import Dataset
from streaminfer.pipelines.lifecycle.registry import Lineage, Registry


@pytest.fixture
def two_versions(registry: Registry, model_factory: Callable[[str], Path],
                 train_onnx: Callable[[np.ndarray, np.ndarray, str], Path],
                 dataset_factory: Callable[[str], Dataset]) -> Registry:
    """The registry with bc version 1 (the champion) and version 2 (another model on the
    same features, trained on half the rows)."""
    bc = dataset_factory("breast_cancer")
    registry.register_model("bc", model_factory("breast_cancer"), metrics={},
                            lineage=Lineage("import"))
    registry.register_model("bc", train_onnx(bc.X[::2], bc.y[::2], "half"),
                            metrics={}, lineage=Lineage("retrain", parent_version="1"))
    registry.set_alias("bc", "champion", "1")
    return registry


@pytest.fixture
def following(two_versions: Registry, pipeline_factory: Callable[..., Any]
              ) -> Callable[..., Any]:
    """``following(**overrides)`` -> a started pipeline on models:/bc@champion of
    ``two_versions``, polling the registry every 0.5 s."""

    def make(**overrides: Any) -> Any:
        section = {"tracking_uri": two_versions.uri,
                   "cache_dir": str(two_versions.cache_dir)}
        rollout = {"poll_interval_s": 0.5, **overrides.pop("rollout", {})}
        return pipeline_factory(model_options={"path": "models:/bc@champion"},
                                registry=section, rollout=rollout, **overrides)

    return make
