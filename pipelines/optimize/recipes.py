"""The variants ``streaminfer optimize`` tries: a name, a technique, its settings, and how to
make it from the original model's bytes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from streaminfer.operators.graph_optimize import LEVELS, optimize_graph
from streaminfer.operators.half import to_fp16
from streaminfer.operators.prune import channel_prune, magnitude_prune, structured_prune
from streaminfer.operators.quantize import quantize_dynamic_int8, quantize_static_int8

ORIGINAL = "original"
SPARSITIES = (0.5, 0.9)
FRACTIONS = (0.25, 0.5, 0.9)


@dataclass(frozen=True)
class Inputs:
    """What a recipe may need besides the model: calibration rows, a feed of every input by
    name (for a model fed by ``model.inputs``, as its own feed builder made it)."""

    calibration: dict[str, np.ndarray]


@dataclass(frozen=True)
class Recipe:
    """One variant to make."""

    name: str
    technique: str
    settings: dict[str, Any] = field(default_factory=dict)
    make: Callable[[bytes, Inputs], bytes] = field(default=lambda model, _: model)
    gpu_only: bool = False  # timed only on CUDA ("not measured here" without one)


Maker = Callable[[bytes, Inputs], bytes]


def _of_model(transform: Callable[[bytes], bytes]) -> Maker:
    def make(model: bytes, _: Inputs) -> bytes:
        return transform(model)
    return make


def _static(fmt: str, per_channel: bool, prepare: bool) -> Callable[[bytes, Inputs], bytes]:
    def make(model: bytes, inputs: Inputs) -> bytes:
        return quantize_static_int8(model, inputs.calibration, fmt=fmt,
                                    per_channel=per_channel, prepare=prepare)
    return make


def _percent(share: float) -> str:
    return f"{round(share * 100):d}"


def recipes(sparsities: Sequence[float] = SPARSITIES,
            fractions: Sequence[float] = FRACTIONS) -> list[Recipe]:
    """Every variant, the original first."""
    made = [Recipe(ORIGINAL, "none")]
    made += [Recipe(f"graph-{level}", "graph-optimization", {"level": level},
                    _of_model(partial(optimize_graph, level=level))) for level in LEVELS]
    made += [Recipe(f"int8-dynamic{'-per-channel' if pc else ''}", "int8-dynamic",
                    {"per_channel": pc},
                    _of_model(partial(quantize_dynamic_int8, per_channel=pc)))
             for pc in (False, True)]
    for fmt, per_channel, prepare in (("qdq", False, False), ("qdq", True, False),
                                      ("qdq", False, True), ("qoperator", False, False)):
        name = f"int8-static-{fmt}" + ("-per-channel" if per_channel else "") + (
            "-preprocessed" if prepare else "")
        made.append(Recipe(name, "int8-static", {
            "format": fmt, "per_channel": per_channel, "preprocessed": prepare,
            "calibration": "minmax"}, _static(fmt, per_channel, prepare)))
    made.append(Recipe("fp16", "fp16", {"keep_io_types": True},
                       _of_model(to_fp16), gpu_only=True))
    made += [Recipe(f"magnitude-{_percent(s)}", "magnitude-pruning", {"sparsity": s},
                    _of_model(partial(magnitude_prune, sparsity=s))) for s in sparsities]
    made += [Recipe(f"structured-{_percent(f)}", "structured-pruning", {"units_removed": f},
                    _of_model(partial(structured_prune, fraction=f))) for f in fractions]
    made += [Recipe(f"channels-{_percent(f)}", "channel-pruning", {"channels_removed": f},
                    _of_model(partial(channel_prune, fraction=f))) for f in fractions]
    return made
