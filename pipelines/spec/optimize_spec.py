"""The ``optimize`` section: how ``streaminfer optimize --config`` judges and which levels it
tries (the command's options override it)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from streaminfer.pipelines.spec.base import FrozenModel

Share = Annotated[float, Field(ge=0, lt=1)]


class OptimizeSpec(FrozenModel):
    """Tolerance and levels for ``streaminfer optimize``."""

    max_loss: float = Field(
        0.005, ge=0, le=1,
        description="Reject variants whose primary metric (accuracy; RMSE for regressors) is "
        "worse than the original's by more than this share of it (0.005 = 0.5%).",
    )
    sparsities: tuple[Share, ...] = Field(
        (0.5, 0.9), description="Magnitude pruning: shares of each layer's weights set to zero.",
    )
    prune: tuple[Share, ...] = Field(
        (0.25, 0.5, 0.9),
        description="Structured pruning: shares of each hidden layer's units removed (and "
        "of each convolution's output channels, where channel pruning applies).",
    )
    calibration_rows: int = Field(
        256, ge=1, le=1_000_000,
        description="Rows of the data that calibrate static int8 quantization.",
    )
