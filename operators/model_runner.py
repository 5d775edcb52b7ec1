"""Run an ONNX model on feature matrices with ONNX Runtime.

>>> from streaminfer.operators.model_runner import OnnxModel  # doctest: +SKIP
>>> model = OnnxModel.load("models/breast_cancer.onnx")        # doctest: +SKIP
>>> model.predict_rows(matrix)[0]                              # doctest: +SKIP
{'label': 1, 'probabilities': [0.02, 0.98]}
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np

from streaminfer.errors import ModelError
from streaminfer.operators.inputs import (
    Feed,
    FeedBuilder,
    InputBinding,
    InputSignature,
    feed_rows,
    signature_of,
    take_rows,
)
from streaminfer.operators.postprocess import PostProcess, Postprocessor
from streaminfer.operators.providers import select_providers
from streaminfer.operators.records import RecordError
from streaminfer.operators.tokens import TokenFeedBuilder, TokenizerConfig

log = logging.getLogger(__name__)

#: Keys every prediction carries; a model output may not take one of these names.
RESERVED_FIELDS = frozenset(
    {"id", "model", "model_version", "latency_ms", "source", "ts", "event_time"}
)
_DTYPES: dict[str, type[np.floating[Any]]] = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
}


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_model_file(path: str | Path, expected_sha256: str | None = None, *,
                    setting: str = "model") -> bytes:
    """Read a model file (or another file a model needs: ``setting`` names its section,
    e.g. ``model.tokenizer``) and check its sha256.

    The expected digest is ``expected_sha256`` or, when that is not given, the one in a
    ``<file>.sha256`` file beside the model (as ``sha256sum`` writes it), if there is one.
    """
    path = Path(path)
    kind = setting.rsplit(".", 1)[-1]
    sidecar = Path(f"{path}.sha256")
    if expected_sha256 is None and sidecar.is_file():
        expected_sha256 = (sidecar.read_text().split() or [""])[0]
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelError(
            f"{kind} file {path} not found ({setting}.path); build the example models with "
            f"`streaminfer build-models` or point {setting}.path at your {path.suffix} file"
        ) from None
    except OSError as exc:
        raise ModelError(f"{kind} file {path} cannot be read: {exc.strerror}") from None
    verify_digest(data, expected_sha256, str(path), setting=setting)
    return data


def write_model_file(data: bytes, path: str | Path) -> Path:
    """Write model bytes to ``path`` (atomically) and ``<path>.sha256`` beside it, which
    :func:`read_model_file` checks before a pipeline loads the model."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    Path(f"{path}.sha256").write_text(f"{sha256_hex(data)}  {path.name}\n")
    return path


def verify_digest(data: bytes, expected_sha256: str | None, what: str, *,
                  setting: str = "model") -> None:
    """Refuse model bytes (or those of the file ``setting`` names) whose sha256 is not the
    expected one."""
    if expected_sha256 is None:
        return
    actual = sha256_hex(data)
    if actual != expected_sha256.lower():
        kind = setting.rsplit(".", 1)[-1]
        raise ModelError(
            f"{kind} file {what} has sha256 {actual}, but {expected_sha256.lower()} is "
            f"expected ({setting}.sha256, or the .sha256 file beside the {kind}); refusing "
            "to load it"
        )


@dataclass(frozen=True)
class ModelInfo:
    """What the runtime needs to know of a loaded model.

    ``input_name``, ``input_width`` and ``input_dtype`` describe the feature matrix of a
    model fed by ``source.features``; a model fed by ``model.inputs`` has ``bindings``
    (input name -> binding), and ``input_width`` ``None``; one fed by ``model.tokenizer``
    also has ``tokenizer``. ``inputs``: every input's signature."""

    name: str
    version: str
    sha256: str
    input_name: str
    input_width: int | None
    input_dtype: type[np.floating[Any]]
    outputs: dict[str, str]
    providers: list[str]
    inputs: tuple[InputSignature, ...] = ()
    bindings: tuple[tuple[str, InputBinding], ...] | None = None
    postprocess: PostProcess | None = None
    tokenizer: TokenizerConfig | None = None

    def postprocessor(self) -> Postprocessor | None:
        """What turns this model's outputs into its answer (``model.postprocess``)."""
        if self.postprocess is None:
            return None
        return Postprocessor(self.postprocess, self.outputs, self.name, RESERVED_FIELDS)

    def input_summary(self) -> str:
        """What the model takes, in a few words: ``input x [batch, 30] float32``, or each
        mapped input with its element type."""
        if self.bindings is None:
            return (f"input {self.input_name} [batch, {self.input_width or '?'}] "
                    f"{np.dtype(self.input_dtype).name}")
        return "inputs " + ", ".join(f"{s.name} ({s.element_type})" for s in self.inputs)

    def feed_builder(self) -> FeedBuilder | None:
        """The builder of this model's feeds, when ``model.inputs`` maps its inputs."""
        if self.bindings is None:
            return None
        if self.tokenizer is not None:
            return TokenFeedBuilder(self.inputs, dict(self.bindings), self.tokenizer, self.name)
        return FeedBuilder(self.inputs, dict(self.bindings), self.name)


class OnnxModel:
    """One ONNX Runtime session over a model with a single 2-D ``[batch, features]`` input,
    or, with ``inputs`` (``model.inputs``), any inputs of the types :mod:`inputs` feeds."""

    def __init__(
        self,
        data: bytes,
        *,
        name: str,
        version: str | None = None,
        expected_sha256: str | None = None,
        providers: str | Sequence[str] = "auto",
        input_name: str | None = None,
        outputs: dict[str, str] | None = None,
        intra_op_threads: int = 1,
        inputs: Mapping[str, InputBinding] | None = None,
        postprocess: PostProcess | None = None,
        tokenizer: TokenizerConfig | None = None,
    ) -> None:
        import onnxruntime as ort

        verify_digest(data, expected_sha256, name)
        digest = sha256_hex(data)
        choice = select_providers(providers)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(data, options, providers=choice.providers)
        except Exception as exc:  # ORT raises its own Fail/InvalidGraph/... types
            raise ModelError(f"model {name} cannot be loaded by ONNX Runtime: {exc}") from None
        used = self._session.get_providers()
        log.info("model %s: ONNX Runtime providers %s; %s", name, ", ".join(used), choice.reason)
        if tokenizer is not None and inputs is None:
            inputs = {}  # the tokenizer feeds the model's token inputs
        self.info = self._describe(name, version or digest[:12], digest, input_name, outputs, used,
                                   inputs, tokenizer)
        if postprocess is not None:
            self.info = replace(self.info, postprocess=postprocess)
            self.info.postprocessor()  # refuses settings the outputs do not allow
        self._output_names = list(self.info.outputs)

    @classmethod
    def load(
        cls, path: str | Path, *, name: str | None = None, expected_sha256: str | None = None,
        **options: Any,
    ) -> OnnxModel:
        """Load a model file (checked against ``expected_sha256`` when given)."""
        data = read_model_file(path, expected_sha256)
        return cls(data, name=name or Path(path).stem, **options)

    def _describe(
        self, name: str, version: str, digest: str, input_name: str | None,
        outputs: dict[str, str] | None, providers: list[str],
        bindings: Mapping[str, InputBinding] | None = None,
        tokenizer: TokenizerConfig | None = None,
    ) -> ModelInfo:
        inputs = self._session.get_inputs()
        if bindings is not None:
            signature = tuple(signature_of(i.name, i.type, i.shape, name) for i in inputs)
            info = ModelInfo(
                name=name, version=version, sha256=digest, input_name=inputs[0].name,
                input_width=None, input_dtype=np.float32, outputs=self._outputs(name, outputs),
                providers=providers, inputs=signature, bindings=tuple(bindings.items()),
                tokenizer=tokenizer,
            )
            info.feed_builder()  # refuses a mapping (or a tokenizer) that does not fit
            return info
        if input_name is None:
            if len(inputs) != 1:
                names = ", ".join(i.name for i in inputs)
                raise ModelError(
                    f"model {name} has {len(inputs)} inputs ({names}); set model.input_name"
                )
            chosen = inputs[0]
        else:
            matches = [i for i in inputs if i.name == input_name]
            if not matches:
                names = ", ".join(i.name for i in inputs)
                raise ModelError(
                    f"model {name} has no input {input_name!r} (model.input_name); it has {names}"
                )
            if len(inputs) > 1:
                raise ModelError(f"model {name}: only single-input models are supported by "
                                 "source.features; map several inputs with model.inputs")
            chosen = matches[0]
        if chosen.type not in _DTYPES:
            raise ModelError(
                f"model {name}: input {chosen.name} is {chosen.type}; supported: "
                "tensor(float), tensor(double) (map inputs of other types with model.inputs)"
            )
        if len(chosen.shape) != 2:
            raise ModelError(
                f"model {name}: input {chosen.name} has shape {chosen.shape}; "
                "expected 2-D [batch, features]"
            )
        width = chosen.shape[1] if isinstance(chosen.shape[1], int) else None
        mapping = self._outputs(name, outputs)
        signature = tuple(signature_of(i.name, i.type, i.shape, name) for i in inputs)
        return ModelInfo(
            name=name, version=version, sha256=digest, input_name=chosen.name,
            input_width=width, input_dtype=_DTYPES[chosen.type], outputs=mapping,
            providers=providers, inputs=signature,
        )

    def _outputs(self, name: str, outputs: dict[str, str] | None) -> dict[str, str]:
        """The ``model.outputs`` mapping, checked against the model's outputs."""
        model_outputs = [o.name for o in self._session.get_outputs()]
        mapping = outputs if outputs is not None else {n: n for n in model_outputs}
        unknown = sorted(set(mapping) - set(model_outputs))
        if unknown:
            raise ModelError(
                f"model {name} has no output {', '.join(unknown)} (model.outputs); "
                f"it has {', '.join(model_outputs)}"
            )
        fields = list(mapping.values())
        twice = sorted({field for field in fields if fields.count(field) > 1})
        if twice:
            raise ModelError(
                f"model {name}: model.outputs maps several outputs to {', '.join(twice)}; "
                "give each output its own field"
            )
        clashes = sorted(set(fields) & RESERVED_FIELDS)
        if clashes:
            raise ModelError(
                f"model {name}: output field {', '.join(clashes)} clashes with a prediction "
                "field; rename it with model.outputs, e.g. {" + f"{clashes[0]}: score" + "}"
            )
        return mapping

    def run(self, matrix: Feed) -> list[Any]:
        """Run the model on a ``[batch, features]`` matrix (or a feed of every input, by
        name); one value per mapped output."""
        feed = matrix if isinstance(matrix, dict) else {self.info.input_name: matrix}
        return list(self._session.run(self._output_names, feed))

    def rows(self, results: list[Any], count: int) -> list[dict[str, Any]]:
        """Split :meth:`run`'s outputs into one dict of plain Python values per row."""
        return rows_of(results, count, list(self.info.outputs.values()))

    def predict_rows(self, matrix: Feed) -> list[dict[str, Any]]:
        """:meth:`run` then :meth:`rows`."""
        return self.rows(self.run(matrix), feed_rows(matrix))

    def predict_each(self, matrix: Feed) -> tuple[list[dict[str, Any] | RecordError], bool]:
        """Score a batch; if the model fails on it, score each row alone, so only the rows
        it fails on alone become errors. Returns one result per row, and whether the batch
        as a whole failed."""
        count = feed_rows(matrix)
        if count == 0:
            return [], False
        try:
            return list(self.predict_rows(matrix)), False
        except Exception:
            return [self._predict_one(take_rows(matrix, slice(i, i + 1)))
                    for i in range(count)], True

    def _predict_one(self, row: Feed) -> dict[str, Any] | RecordError:
        try:
            return self.predict_rows(row)[0]
        except Exception as exc:
            return RecordError("model_error", f"model run failed: {exc}", "model")


def rows_of(results: list[Any], count: int, fields: list[str]) -> list[dict[str, Any]]:
    """Model outputs (one per field, each with ``count`` rows) as one dict per row."""
    if len(results) != len(fields):
        raise ValueError(f"{len(results)} outputs for {len(fields)} fields")
    columns = [_column(value, count) for value in results]
    # a row's dict by map and a plain zip: 0.23 us a row against 0.38 (docs/decisions.md)
    return list(map(dict, map(zip, repeat(fields), zip(*columns, strict=True))))


def has_rows(value: Any, count: int) -> bool:
    """Whether one model output holds exactly ``count`` rows."""
    if isinstance(value, np.ndarray):
        return value.ndim > 0 and value.shape[0] == count
    return isinstance(value, list) and len(value) == count


def output_column(value: Any, count: int) -> Any:
    """One model output as a column of ``count`` rows: an array (a ``[n, 1]`` array squeezed
    to ``[n]``, so a row shows one value, not a list of one) or a list (skl2onnx's ZipMap);
    raises ``ValueError`` for any other shape. The row path (:func:`rows_of`) and the
    column-wise path (``operators/arrow_scoring.py``) both take outputs through it."""
    if isinstance(value, np.ndarray):
        if value.ndim == 0 or value.shape[0] != count:
            raise ValueError(f"output has shape {value.shape}, expected {count} rows")
        return value[:, 0] if value.ndim == 2 and value.shape[1] == 1 else value
    if isinstance(value, list):
        if len(value) != count:
            raise ValueError(f"output has {len(value)} rows, expected {count}")
        return value
    raise ValueError(f"unsupported output type {type(value).__name__}")


def _column(value: Any, count: int) -> list[Any]:
    """One output as a list with a plain Python value per row."""
    column = output_column(value, count)
    if isinstance(column, np.ndarray):
        return list(column.tolist())
    return [{str(k): v for k, v in item.items()} if isinstance(item, dict) else item
            for item in column]
