"""streaminfer: Kafka events in, ONNX Runtime predictions out, on Ray.

>>> from streaminfer import Pipeline
>>> Pipeline.from_yaml("configs/demo.yaml").run()     # doctest: +SKIP
"""

from streaminfer.api import Pipeline
from streaminfer.errors import (
    BrokerError,
    ConfigError,
    DeviceError,
    ModelError,
    PipelineError,
    StreamInferError,
)
from streaminfer.pipelines.online.runtime import PipelineStats
from streaminfer.pipelines.spec.schema import PipelineSpec

__version__ = "0.1.0"

__all__ = [
    "BrokerError",
    "ConfigError",
    "DeviceError",
    "ModelError",
    "Pipeline",
    "PipelineError",
    "PipelineSpec",
    "PipelineStats",
    "StreamInferError",
    "__version__",
]
