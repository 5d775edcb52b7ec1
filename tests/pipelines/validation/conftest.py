"""Fixtures of the validation tests: a pipeline YAML for an example model, and the model's
own ONNX Runtime outputs computed here (what the report's numbers are checked against)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
import yaml

from streaminfer.pipelines.devtools.example_models import Dataset


@pytest.fixture
def validation_config(tmp_path: Path, model_factory: Callable[[str], Path],
                      dataset_factory: Callable[[str], Dataset]) -> Callable[..., Path]:
    """``validation_config("breast_cancer", bootstrap="host:port")`` -> a pipeline YAML whose
    model is that example model and whose features are its dataset's columns."""

    def write(model: str, bootstrap: str = "127.0.0.1:9") -> Path:
        data: dict[str, Any] = {
            "name": "validation", "kafka": {"bootstrap_servers": bootstrap},
            "source": {"topics": ["events"], "group_id": "g",
                       "features": dataset_factory(model).features},
            "model": {"path": str(model_factory(model)), "name": model.replace("_", "-")},
            "sink": {"predictions_topic": "p", "dead_letter_topic": "d"},
        }
        path = tmp_path / f"{model}.yaml"
        path.write_text(yaml.safe_dump(data))
        return path

    return write


def _onnx_outputs(model_path: Path, X: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return [np.asarray(v) for v in session.run(None, {name: X.astype(np.float32)})]


@pytest.fixture
def onnx_outputs() -> Callable[[Path, np.ndarray], list[np.ndarray]]:
    """``onnx_outputs(model_path, X)``: the model's outputs from a plain ONNX Runtime session
    of the test's own."""
    return _onnx_outputs
