"""ONNX Runtime's graph optimizations (constant folding, node fusions, layout changes), run once
and saved, so a pipeline loads the optimized graph instead of optimizing at every start.

Levels ``basic`` and ``extended`` give portable graphs; ``all`` adds layout changes for the CPU
it ran on, so that file is meant for machines like this one.
"""

from __future__ import annotations

from pathlib import Path

from streaminfer.operators.onnx_graph import through_files

LEVELS = ("basic", "extended", "all")


def optimize_graph(model: bytes, level: str) -> bytes:
    """The model as ONNX Runtime optimizes it at ``level`` (one of :data:`LEVELS`)."""
    import onnxruntime as ort

    chosen = {
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }
    if level not in chosen:
        raise ValueError(f"unknown optimization level {level!r}; use one of {', '.join(LEVELS)}")

    def save(source: Path, target: Path) -> None:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.graph_optimization_level = chosen[level]
        options.optimized_model_filepath = str(target)
        ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])

    return through_files(model, save)
