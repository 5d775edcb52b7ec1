"""Make each variant of a model, check it loads and predicts, and write it with its sha256.

A technique that cannot apply (no dense weights) is ``skipped``, one that fails is ``failed``,
each with a one-line reason and no file; nothing stops the others.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streaminfer.operators.model_runner import write_model_file
from streaminfer.operators.onnx_graph import NotApplicable
from streaminfer.pipelines.optimize.recipes import Inputs, Recipe
from streaminfer.pipelines.optimize.timing import open_session
from streaminfer.pipelines.optimize.variant_quality import Predictions, predict

log = logging.getLogger(__name__)


@dataclass
class Built:
    """A variant as made: its file and CPU session, or why there is none."""

    recipe: Recipe
    status: str  # "built", "skipped", "failed"
    reason: str = ""
    path: Path | None = None
    data: bytes = b""
    session: Any = None
    load_ms: float = 0.0
    predictions: Predictions | None = None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}"


def build_variant(recipe: Recipe, original: bytes, inputs: Inputs, rows: dict[str, Any],
                  out_dir: Path, threads: int) -> Built:
    """Make, write, load (CPU) and run one variant on the validation rows (a feed of every
    input by name)."""
    try:
        data = recipe.make(original, inputs)
    except NotApplicable as exc:
        return Built(recipe, "skipped", str(exc))
    except Exception as exc:  # the quantizer and converters raise many kinds
        log.warning("variant %s failed: %s", recipe.name, _one_line(exc))
        return Built(recipe, "failed", _one_line(exc))
    try:
        session, load_ms = open_session(data, "cpu", threads)
        predictions = predict(session, rows)
    except Exception as exc:  # ONNX Runtime's own error types
        log.warning("variant %s does not run: %s", recipe.name, _one_line(exc))
        return Built(recipe, "failed", f"does not run on ONNX Runtime: {_one_line(exc)}")
    path = write_model_file(data, out_dir / f"{recipe.name}.onnx")  # only a variant that runs
    return Built(recipe, "built", "", path, data, session, load_ms, predictions)
