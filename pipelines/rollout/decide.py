"""Which version a running model should swap to: pure rules, no registry, no Ray.

>>> next_version(Following("bc", "champion", serving="1", serve=False), "2")
Decision(swap_to='2', note=None)
>>> next_version(Following("bc", "champion", serving="2", serve=False), "2")
Decision(swap_to=None, note=None)
>>> next_version(Following("bc", "champion", serving="1", serve=False, refused={"2": "bad"}),
...              "2")
Decision(swap_to=None, note=None)
>>> next_version(Following("bc", "champion", serving="1", serve=True), "2").note
... # doctest: +ELLIPSIS
'model bc runs on Ray Serve: a running pipeline does not hot-swap served models yet; ...'
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from streaminfer.errors import ConfigError
from streaminfer.operators.model_runner import ModelInfo


@dataclass(frozen=True)
class StoredModel:
    """A model's bytes with the version label and sha256 they are served under."""

    data: bytes
    version: str
    sha256: str


@dataclass
class Following:
    """One model that follows a registry alias, and what it serves now."""

    name: str  # the registered model's name
    alias: str
    serving: str  # the version the workers serve
    serve: bool  # on Ray Serve replicas (not hot-swapped yet)
    refused: dict[str, str] = field(default_factory=dict)  # version -> why it cannot serve
    noted: set[str] = field(default_factory=set)  # versions already reported as not swapped


@dataclass(frozen=True)
class Decision:
    """Swap to ``swap_to`` (None: nothing to do); ``note``: a line to log once."""

    swap_to: str | None
    note: str | None = None


def next_version(model: Following, target: str) -> Decision:
    """What to do when the alias names version ``target``."""
    if target == model.serving or target in model.refused:
        return Decision(None)
    if model.serve:
        if target in model.noted:
            return Decision(None)
        return Decision(None, (
            f"model {model.name} runs on Ray Serve: a running pipeline does not hot-swap "
            f"served models yet; version {model.serving} keeps serving, restart the pipeline "
            f"to serve models:/{model.name}@{model.alias} (version {target})"))
    return Decision(target)


def check_same_input(name: str, new: ModelInfo, was: ModelInfo) -> None:
    """Raise ``ConfigError`` unless version ``new`` of a model takes the input ``was`` takes."""
    if (new.input_width, new.input_dtype) != (was.input_width, was.input_dtype):
        raise ConfigError(
            f"model {name}: version {new.version} takes {new.input_width} "
            f"{np.dtype(new.input_dtype).name} features, version {was.version} "
            f"{was.input_width} {np.dtype(was.input_dtype).name}; a running pipeline can "
            "only swap to a model with the same input")
