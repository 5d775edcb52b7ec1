"""What the model-rewriting operators share: ONNX bytes through temporary files (for tools
that only take paths), a model's initializers as arrays, and its dense-layer weights."""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from streaminfer.errors import ModelError

DENSE = ("MatMul", "Gemm")


class NotApplicable(ModelError):
    """The model has nothing a technique can change (e.g. no MatMul/Gemm weights)."""


def through_files(model: bytes, transform: Callable[[Path, Path], None]) -> bytes:
    """Write ``model`` to a temporary file, let ``transform(source, target)`` write the
    target, and return the target's bytes (the folder is removed afterwards)."""
    with tempfile.TemporaryDirectory(prefix="streaminfer-") as folder:
        source, target = Path(folder, "source.onnx"), Path(folder, "target.onnx")
        source.write_bytes(model)
        transform(source, target)
        return target.read_bytes()


@contextlib.contextmanager
def quiet_root_logger() -> Iterator[None]:
    """ONNX Runtime's quantizer logs advice for every tensor on the root logger: hold it to
    errors while it runs."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def load_proto(model: bytes) -> Any:
    """The ``onnx.ModelProto`` of model bytes."""
    import onnx

    return onnx.load_model_from_string(model)


def initializers(proto: Any) -> dict[str, np.ndarray]:
    """Every initializer of the main graph as a numpy array, by name."""
    from onnx import numpy_helper

    return {init.name: numpy_helper.to_array(init) for init in proto.graph.initializer}


def dense_weights(proto: Any, ops: Sequence[str] = DENSE) -> list[str]:
    """Names of the float32 weight initializers that ``ops`` nodes (MatMul/Gemm: 2-D; Conv:
    4-D kernels) multiply by."""
    arrays = initializers(proto)
    return sorted({node.input[1] for node in proto.graph.node
                   if node.op_type in ops and node.input[1] in arrays
                   and arrays[node.input[1]].ndim == (4 if node.op_type == "Conv" else 2)
                   and arrays[node.input[1]].dtype == np.float32})


def require_dense(model: bytes, technique: str, ops: Sequence[str] = DENSE) -> None:
    """Raise :class:`NotApplicable` when the model has no weights of ``ops`` for
    ``technique``."""
    if not dense_weights(load_proto(model), ops):
        raise NotApplicable(f"{technique}: the model has no {'/'.join(ops)} weights (tree and "
                            "ai.onnx.ml linear operators, and TF-IDF, keep their weights in "
                            "attributes)")
