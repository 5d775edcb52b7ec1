"""streaminfer: Kafka events in, ONNX Runtime predictions out, on Ray.

>>> from streaminfer import Pipeline
>>> Pipeline.from_yaml("configs/demo.yaml").run()     # doctest: +SKIP

``streaminfer.batch(config, input, output)`` scores a dataset (files or a topic range) with the
same operators. ``Pipeline``, ``PipelineSpec``, ``PipelineStats`` and ``batch`` are imported
when first used, so that importing a part (say ``streaminfer.cluster.render``) does not load
Ray and the runtime.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from streaminfer.errors import (
    BrokerError,
    ConfigError,
    DeviceError,
    ModelError,
    PipelineError,
    Stopped,
    StreamInferError,
)

if TYPE_CHECKING:
    from streaminfer.api import Pipeline
    from streaminfer.pipelines.batch.job import BatchSummary, batch
    from streaminfer.pipelines.runtime.stats import PipelineStats
    from streaminfer.pipelines.spec.schema import PipelineSpec

__version__ = "0.1.0"

_LAZY = {
    "BatchSummary": "streaminfer.pipelines.batch.job",
    "batch": "streaminfer.pipelines.batch.job",
    "Pipeline": "streaminfer.api",
    "PipelineStats": "streaminfer.pipelines.runtime.stats",
    "PipelineSpec": "streaminfer.pipelines.spec.schema",
}

__all__ = [
    "BatchSummary",
    "BrokerError",
    "ConfigError",
    "DeviceError",
    "ModelError",
    "Pipeline",
    "PipelineError",
    "PipelineSpec",
    "PipelineStats",
    "Stopped",
    "StreamInferError",
    "__version__",
    "batch",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'streaminfer' has no attribute {name!r}")
