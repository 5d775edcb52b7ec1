"""int8 quantization with ONNX Runtime's quantizer: dynamic (weights int8, activations
quantized at run time) and static (activations' ranges calibrated on sample rows).

Softmax is left in float: the quantizer cannot calibrate the output of scikit-learn's
Softmax -> Identity tail ("Only an existing tensor can be modified"), and a classifier's
probabilities are better in float anyway.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from streaminfer.operators.onnx_graph import quiet_root_logger, require_dense, through_files

FORMATS = ("qdq", "qoperator")
#: The operators quantized: the dense layers, where the time goes.
OPS = ["MatMul", "Gemm"]


def quantize_dynamic_int8(model: bytes, *, per_channel: bool = False) -> bytes:
    """Weights stored as int8; activations quantized per batch at run time."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    require_dense(model, "int8 quantization")

    def run(source: Path, target: Path) -> None:
        quantize_dynamic(source, target, weight_type=QuantType.QInt8, per_channel=per_channel,
                         op_types_to_quantize=OPS)

    with quiet_root_logger():
        return through_files(model, run)


class MatrixReader:
    """ONNX Runtime's calibration data reader over rows of one matrix, in slices."""

    def __init__(self, input_name: str, rows: np.ndarray, batch: int = 64) -> None:
        self._slices = iter([{input_name: rows[i : i + batch]}
                             for i in range(0, len(rows), batch)])

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
    model: bytes, calibration: np.ndarray, *, input_name: str, fmt: str = "qdq",
    per_channel: bool = False, prepare: bool = False,
) -> bytes:
    """Activations' int8 ranges from ``calibration`` rows (min/max); ``fmt`` is ``qdq``
    (QuantizeLinear/DequantizeLinear pairs that ONNX Runtime fuses) or ``qoperator``
    (QLinear* operators); ``prepare`` runs :func:`preprocess` first."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static

    errors_only()
    if fmt not in FORMATS:
        raise ValueError(f"unknown quantization format {fmt!r}; use one of {', '.join(FORMATS)}")
    require_dense(model, "int8 quantization")
    source_model = preprocess(model) if prepare else model

    class Reader(MatrixReader, CalibrationDataReader):  # type: ignore[misc]
        pass

    def run(source: Path, target: Path) -> None:
        quantize_static(
            source, target, Reader(input_name, calibration.astype(np.float32)),
            quant_format=QuantFormat.QDQ if fmt == "qdq" else QuantFormat.QOperator,
            per_channel=per_channel, op_types_to_quantize=OPS,
        )

    with quiet_root_logger():
        return through_files(source_model, run)
