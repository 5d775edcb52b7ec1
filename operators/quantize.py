"""int8 quantization with ONNX Runtime's quantizer: dynamic (weights int8, activations
quantized at run time) and static (activations' ranges calibrated on sample rows).

Softmax is left in float: the quantizer cannot calibrate the output of scikit-learn's
Softmax -> Identity tail ("Only an existing tensor can be modified"), and a classifier's
probabilities are better in float anyway. Static quantization covers convolutions too (a
CNN's time is in its Conv layers); dynamic quantization does not (ONNX Runtime's ConvInteger
is slower on CPU than the float Conv it replaces).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from streaminfer.operators.onnx_graph import quiet_root_logger, require_dense, through_files

FORMATS = ("qdq", "qoperator")
#: The operators quantized: the dense layers, where the time goes.
OPS = ["MatMul", "Gemm"]
#: The operators static quantization covers: the dense layers and convolutions.
STATIC_OPS = [*OPS, "Conv"]


def quantize_dynamic_int8(model: bytes, *, per_channel: bool = False) -> bytes:
    """Weights stored as int8; activations quantized per batch at run time."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    require_dense(model, "int8 quantization")

    def run(source: Path, target: Path) -> None:
        quantize_dynamic(source, target, weight_type=QuantType.QInt8, per_channel=per_channel,
                         op_types_to_quantize=OPS)

    with quiet_root_logger():
        return through_files(model, run)


class FeedReader:
    """ONNX Runtime's calibration data reader over the rows of a feed (every input of the
    model by name, as the model's feed builder makes it), in slices."""

    def __init__(self, feed: Mapping[str, np.ndarray], batch: int = 64) -> None:
        count = len(next(iter(feed.values()))) if feed else 0
        self._slices = iter([{name: rows[i : i + batch] for name, rows in feed.items()}
                             for i in range(0, count, batch)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._slices, None)


def errors_only() -> None:
    """ONNX Runtime's sessions that quantization makes itself (calibration, preprocessing) log
    errors only: they warned on stderr, coloured, of each unused initializer they dropped."""
    import onnxruntime as ort

    ort.set_default_logger_severity(3)


def preprocess(model: bytes) -> bytes:
    """ONNX Runtime's recommended step before static quantization (shape inference and graph
    optimization); without sympy, so without symbolic shapes."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    errors_only()

    def run(source: Path, target: Path) -> None:
        quant_pre_process(str(source), str(target), skip_symbolic_shape=True)

    with quiet_root_logger():
        return through_files(model, run)


def quantize_static_int8(
    model: bytes, calibration: np.ndarray | Mapping[str, np.ndarray], *,
    input_name: str | None = None, fmt: str = "qdq", per_channel: bool = False,
    prepare: bool = False,
) -> bytes:
    """Activations' int8 ranges from ``calibration`` rows (min/max): a feed of every input
    by name, or the rows of the one input ``input_name``. ``fmt`` is ``qdq``
    (QuantizeLinear/DequantizeLinear pairs that ONNX Runtime fuses) or ``qoperator``
    (QLinear* operators); ``prepare`` runs :func:`preprocess` first."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static

    errors_only()
    if fmt not in FORMATS:
        raise ValueError(f"unknown quantization format {fmt!r}; use one of {', '.join(FORMATS)}")
    require_dense(model, "int8 quantization", STATIC_OPS)
    if isinstance(calibration, np.ndarray):
        if input_name is None:
            raise ValueError("calibration rows of one input need its input_name")
        calibration = {input_name: calibration.astype(np.float32)}
    source_model = preprocess(model) if prepare else model

    class Reader(FeedReader, CalibrationDataReader):  # type: ignore[misc]
        pass

    def run(source: Path, target: Path) -> None:
        quantize_static(
            source, target, Reader(calibration),
            quant_format=QuantFormat.QDQ if fmt == "qdq" else QuantFormat.QOperator,
            per_channel=per_channel, op_types_to_quantize=STATIC_OPS,
        )

    with quiet_root_logger():
        return through_files(source_model, run)
