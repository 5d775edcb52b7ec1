"""The examples in docstrings run (those marked +SKIP need a broker or a model file)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "streaminfer.operators.batcher",
    "streaminfer.operators.batch_units",
    "streaminfer.operators.features",
    "streaminfer.operators.join_state",
    "streaminfer.operators.live_window",
    "streaminfer.operators.predictions",
    "streaminfer.pipelines.feedback.status",
    "streaminfer.pipelines.feedback.topics",
    "streaminfer.pipelines.spec.feedback_spec",
    "streaminfer.operators.providers",
    "streaminfer.pipelines.spec.schema",
    "streaminfer.cluster.spec",
    "streaminfer.waiting",
    "streaminfer.pipelines.lifecycle.swap_rule",
    "streaminfer.pipelines.lifecycle.versions",
    "streaminfer.pipelines.rollout.status",
    "streaminfer.pipelines.lifecycle.retrain_outcome",
    "streaminfer.pipelines.runtime.candidates",
    "streaminfer.pipelines.lifecycle.roles",
    "streaminfer.cli.common",
    "streaminfer.operators.partition_lag",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no runnable example"
    assert result.failed == 0
