"""Feed every input of an ONNX model from event fields (``model.inputs``), type-checked.

A model's inputs come from its signature (:class:`InputSignature`: name, element type,
shape with dynamic axes). An :class:`InputBinding` says where an input's values are in an
event: one field, a list of fields (a row) or one field holding an array. The
:class:`FeedBuilder` checks each event's values against the input's element type (an int64
input refuses 1.5; a string input refuses a number unless ``cast``), fills a missing value
with the binding's ``default`` or refuses the event, then stacks a batch into the feed dict
ONNX Runtime takes. Its interface is :class:`FeatureExtractor`'s (``values`` per event,
``matrix`` per batch), so the scorer takes either.

>>> sig = (InputSignature("country", "string", (None, 1)),
...        InputSignature("amount", "float", (None, 1)))
>>> fb = FeedBuilder(sig, {"country": InputBinding(field="country"),
...                        "amount": InputBinding(field="amount")})
>>> feed, refused = fb.matrix([fb.values({"country": "FR", "amount": 3})])
>>> feed["country"].tolist(), feed["amount"].dtype.name, refused
([['FR']], 'float32', {})
"""

from __future__ import annotations

import base64
import math
import re
from collections import Counter as Tally
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from streaminfer.errors import ModelError
from streaminfer.operators.input_columns import check_shape, screened, tensor
from streaminfer.operators.pictures import (
    PictureConfig,
    picture_size,
    picture_value,
    stack_pictures,
)
from streaminfer.operators.records import RecordError

ElementType = Literal[
    "float", "double", "float16", "int64", "int32", "int8", "uint8", "bool", "string"
]
#: ONNX Runtime's type names of the element types streaminfer feeds, and their numpy dtype.
ONNX_TYPES: dict[str, tuple[ElementType, Any]] = {
    "tensor(float)": ("float", np.float32),
    "tensor(double)": ("double", np.float64),
    "tensor(float16)": ("float16", np.float16),
    "tensor(int64)": ("int64", np.int64),
    "tensor(int32)": ("int32", np.int32),
    "tensor(int8)": ("int8", np.int8),
    "tensor(uint8)": ("uint8", np.uint8),
    "tensor(bool)": ("bool", np.bool_),
    "tensor(string)": ("string", np.object_),
}
_DTYPE = dict(ONNX_TYPES.values())
_FLOATS = frozenset({"float", "double", "float16"})
_INTS = frozenset({"int64", "int32", "int8", "uint8"})
_NUMBER = (int, float)
#: What ``cast`` reads as a number: ASCII digits, an optional sign, fraction and exponent.
_NUMBER_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_WHOLE_TEXT = re.compile(r"[+-]?[0-9]+")

#: What a model takes: a feature matrix, or one array per input name.
Feed = np.ndarray | dict[str, np.ndarray]


@dataclass(frozen=True)
class InputSignature:
    """One model input: its name, element type and shape (``None`` or a name: dynamic)."""

    name: str
    element_type: ElementType
    shape: tuple[int | str | None, ...]

    @property
    def dtype(self) -> Any:
        """The numpy dtype of the tensor (object for strings)."""
        return _DTYPE[self.element_type]

    def width(self) -> int | None:
        """The fixed size of axis 1, if the input has one."""
        return self.shape[1] if len(self.shape) > 1 and isinstance(self.shape[1], int) else None


def signature_of(name: str, onnx_type: str, shape: Sequence[Any], model: str) -> InputSignature:
    """An input's signature from what ONNX Runtime reports; ``ModelError`` for a type
    streaminfer cannot feed."""
    if onnx_type not in ONNX_TYPES:
        supported = ", ".join(kind for kind, _ in ONNX_TYPES.values())
        raise ModelError(f"model {model}: input {name} is {onnx_type}; supported element "
                         f"types: {supported}")
    dims = tuple(d if isinstance(d, int) and d > 0 else None for d in shape)
    return InputSignature(name, ONNX_TYPES[onnx_type][0], dims)


@dataclass(frozen=True)
class InputBinding:
    """Where one input's values are in an event: exactly one of ``field`` (one value),
    ``fields`` (a row of values) or ``array_field`` (a field holding an array).
    ``cast``: convert values of another JSON type (``"3"`` to 3, 3 to ``"3"``) instead of
    refusing them; ``default``: the value of a missing or null field (``None``: refuse);
    ``picture``: ``field`` holds a picture as base64 (``operators/pictures.py``)."""

    field: str | None = None
    fields: tuple[str, ...] | None = None
    array_field: str | None = None
    cast: bool = False
    default: Any = None
    picture: PictureConfig | None = None

    def names(self) -> list[str]:
        """The event fields this input reads."""
        if self.fields is not None:
            return list(self.fields)
        return [self.field or self.array_field or ""]


class FeedBuilder:
    """Builds the feed dict of a batch of events for a model's inputs."""

    def __init__(self, signature: Sequence[InputSignature], bindings: Mapping[str, InputBinding],
                 model: str = "model") -> None:
        names = [s.name for s in signature]
        unknown = sorted(set(bindings) - set(names))
        if unknown:
            raise ModelError(f"model {model} has no input {', '.join(unknown)} (model.inputs); "
                             f"it has {', '.join(names)}")
        unbound = [n for n in names if n not in bindings]
        if unbound:
            raise ModelError(f"model {model}: input {', '.join(unbound)} is not mapped to an "
                             "event field; add it under model.inputs, e.g. "
                             f"{{{unbound[0]}: {{field: {unbound[0]}}}}}")
        self.signature = tuple(signature)
        self.bindings = [bindings[s.name] for s in self.signature]
        #: By input position: the (height, width) its pictures are resized to.
        self.picture_sizes: dict[int, tuple[int, int]] = {}
        for position, (sig, binding) in enumerate(zip(self.signature, self.bindings,
                                                      strict=True)):
            if binding.picture is not None:
                self.picture_sizes[position] = picture_size(
                    binding.picture, sig.element_type, sig.shape, sig.name, model)
                continue
            check_shape(sig, binding, model)
            if binding.default is not None:
                try:
                    _element(binding.default, sig, binding, "default", refuse=ValueError)
                except ValueError as exc:
                    raise ModelError(f"model {model}: model.inputs.{sig.name}.default "
                                     f"{binding.default!r} does not fit: {exc}") from None
        self.fields = sorted({f for b in self.bindings for f in b.names()})
        #: By input position: an int input's range (``None`` for other types).
        self._bounds = [(int(np.iinfo(s.dtype).min), int(np.iinfo(s.dtype).max))
                        if s.element_type in _INTS else None for s in self.signature]

    def values(self, event: dict[str, Any]) -> tuple[Any, ...]:
        """One event's value per input, checked; raises :class:`RecordError` if unusable."""
        # This class's rows, not a subclass's: TokenFeedBuilder.values adds its own input
        # in front of what this returns.
        rows, refused = FeedBuilder.rows(self, [event])
        if refused:
            raise refused[0]
        return rows[0]

    def rows(self, events: Sequence[dict[str, Any]]) -> tuple[list[tuple[Any, ...]],
                                                              dict[int, RecordError]]:
        """:meth:`values` of a batch, built input by input: the rows of the usable events
        (in order) and, by event index, why each other one is refused (what :meth:`values`
        raises for it: the first input, in order, that refuses it)."""
        refused: dict[int, RecordError] = {}
        columns = [self._column(events, position, refused)
                   for position in range(len(self.signature))]
        rows = list(zip(*columns, strict=True)) if columns else [()] * len(events)
        if refused:
            rows = [row for i, row in enumerate(rows) if i not in refused]
        return rows, refused

    def _column(self, events: Sequence[dict[str, Any]], position: int,
                refused: dict[int, RecordError]) -> list[Any]:
        """One input's value of each event (anything where ``refused`` has the event,
        which gains the events this input refuses)."""
        sig, binding = self.signature[position], self.bindings[position]
        if position not in self.picture_sizes and binding.array_field is None:
            picked = []
            for name in binding.names():  # each field of every event, if screened
                column = [e.get(name) for e in events] if binding.default is None else \
                    [binding.default if (v := e.get(name)) is None else v for e in events]
                if not screened(column, sig.element_type, self._bounds[position]):
                    break
                picked.append(column)
            else:  # a row of fields: a list a row, as _value gives it
                return picked[0] if binding.fields is None else \
                    [list(row) for row in zip(*picked, strict=True)]
        column = [None] * len(events)
        for index, event in enumerate(events):
            if index not in refused:
                try:
                    column[index] = self._picture(event, position) \
                        if position in self.picture_sizes else _value(event, sig, binding)
                except RecordError as error:
                    refused[index] = error
        return column

    def _picture(self, event: dict[str, Any], position: int) -> np.ndarray:
        sig, binding = self.signature[position], self.bindings[position]
        assert binding.picture is not None and binding.field is not None
        return picture_value(event, binding.field, binding.picture, sig.name, sig.dtype,
                             self.picture_sizes[position])

    def matrix(self, rows: Sequence[Sequence[Any]]) -> tuple[dict[str, np.ndarray],
                                                             dict[int, RecordError]]:
        """The feed of the usable rows (in order) and, by row index, why each other row is
        not usable (an array of another length than its batch's, a value not finite in the
        input's float type)."""
        rejected: dict[int, RecordError] = {}
        for position, (sig, binding) in enumerate(zip(self.signature, self.bindings,
                                                      strict=True)):
            if binding.array_field is not None and sig.width() is None and rows:
                lengths = Tally(len(row[position]) for row in rows)
                common = lengths.most_common(1)[0][0]
                for index, row in enumerate(rows):
                    if len(row[position]) != common and index not in rejected:
                        rejected[index] = RecordError(
                            "wrong_feature_count",
                            f"'{binding.array_field}' (input '{sig.name}') has "
                            f"{len(row[position])} values; the others in its batch have "
                            f"{common}", "validate", binding.array_field)
        kept = [i for i in range(len(rows)) if i not in rejected]
        feed: dict[str, np.ndarray] = {}
        for position, sig in enumerate(self.signature):
            column = [rows[i][position] for i in kept]
            if position in self.picture_sizes:
                feed[sig.name] = stack_pictures(column, self._picture_shape(position),
                                                sig.dtype)
                continue  # finite by construction
            array = tensor(column, sig)
            if sig.element_type in _FLOATS and len(column):
                finite = np.isfinite(array.reshape(len(column), -1)).all(axis=1)
                for k in np.flatnonzero(~finite).tolist():
                    binding = self.bindings[position]
                    rejected.setdefault(kept[k], RecordError(
                        "non_finite_feature",
                        f"field '{binding.names()[0]}' (input '{sig.name}') is not finite as "
                        f"{sig.element_type}", "validate", binding.names()[0]))
            feed[sig.name] = array
        if any(i in rejected for i in kept):  # not finite: found after the cast
            good = [k for k, i in enumerate(kept) if i not in rejected]
            feed = {name: array[good] for name, array in feed.items()}
        return feed, rejected

    def column_matrix(self, columns: Sequence[np.ndarray]) -> tuple[dict[str, np.ndarray],
                                                                    np.ndarray]:
        """:meth:`matrix` for a table's columns (an array per input, in order, of present
        values of the input's kind): the feed of every row, and which rows it takes (ints in
        range, floats finite; :meth:`rows` refuses the others with their reason). Ints go to
        float inputs through float64, as numpy converts a row's Python ints."""
        count = len(columns[0]) if columns else 0
        usable = np.ones(count, dtype=bool)
        feed: dict[str, np.ndarray] = {}
        for sig, bounds, column in zip(self.signature, self._bounds, columns, strict=True):
            if bounds is not None:
                usable &= (column >= bounds[0]) & (column <= bounds[1])
            elif sig.element_type in _FLOATS and column.dtype.kind in "iu":
                column = column.astype(np.float64)
            array = tensor(column, sig)
            if sig.element_type in _FLOATS and count:
                usable &= np.isfinite(array.reshape(count, -1)).all(axis=1)
            feed[sig.name] = array
        return feed, usable

    def _picture_shape(self, position: int) -> tuple[int, ...]:
        config = self.bindings[position].picture
        assert config is not None
        height, width = self.picture_sizes[position]
        return (config.channels, height, width) if config.layout == "NCHW" else \
            (height, width, config.channels)

    def feature_row(self, event: dict[str, Any]) -> dict[str, Any]:
        """The event's values of the fields the inputs read (for labelled examples; bytes,
        a raw record's picture, as base64 text, as a JSON event would carry it)."""
        return {name: _plain(event.get(name)) for name in self.fields}

    def truncated(self, rows: Sequence[Sequence[Any]]) -> int:
        """How many of these rows had a text cut to fit (``operators/tokens.py``)."""
        return 0

    def pad_values(self) -> dict[str, int]:
        """What pads each input when feeds of several batches are merged (none: the inputs
        of a plain feed have one width)."""
        return {}


def feed_rows(feed: Feed) -> int:
    """How many rows a feed holds."""
    if isinstance(feed, np.ndarray):
        return len(feed)
    return len(next(iter(feed.values()))) if feed else 0


def take_rows(feed: Feed, index: Any) -> Feed:
    """The rows ``index`` (a mask, positions or a slice) picks of a feed."""
    if isinstance(feed, np.ndarray):
        picked: np.ndarray = feed[index]
        return picked
    return {name: array[index] for name, array in feed.items()}


def concat_feeds(feeds: Sequence[Feed], pads: Mapping[str, int] | None = None) -> Feed:
    """Feeds of the same model, one after the other; 2-D inputs of different widths (token
    ids padded per batch) padded to the widest, with ``pads[name]`` (default 0)."""
    first = feeds[0]
    if isinstance(first, np.ndarray):
        return np.concatenate(feeds)  # type: ignore[arg-type]
    merged = {}
    for name in first:
        arrays = [f[name] for f in feeds if isinstance(f, dict)]
        widest = max(a.shape[1] if a.ndim == 2 else 0 for a in arrays)
        if any(a.ndim == 2 and a.shape[1] != widest for a in arrays):
            fill = (pads or {}).get(name, 0)
            arrays = [np.pad(a, ((0, 0), (0, widest - a.shape[1])), constant_values=fill)
                      for a in arrays]
        merged[name] = np.concatenate(arrays)
    return merged


def _value(event: dict[str, Any], sig: InputSignature, binding: InputBinding) -> Any:
    if binding.field is not None:
        return _element(_present(event, binding.field, sig, binding), sig, binding,
                        binding.field)
    if binding.fields is not None:
        return [_element(_present(event, name, sig, binding), sig, binding, name)
                for name in binding.fields]
    name = binding.array_field
    assert name is not None
    array = _present(event, name, sig, binding)
    if not isinstance(array, list):
        raise RecordError("wrong_input_type", f"field '{name}' (input '{sig.name}') is "
                          f"{_describe(array)}, not an array", "validate", name)
    width = sig.width()
    if not array:
        raise RecordError("wrong_feature_count", f"'{name}' (input '{sig.name}') is an "
                          "empty array", "validate", name)
    if width is not None and len(array) != width:
        raise RecordError("wrong_feature_count", f"'{name}' (input '{sig.name}') has "
                          f"{len(array)} values, the model takes {width}", "validate", name)
    return [_element(item, sig, binding, f"{name}[{i}]") for i, item in enumerate(array)]


def _present(event: dict[str, Any], name: str, sig: InputSignature,
             binding: InputBinding) -> Any:
    value = event.get(name)
    if value is None:
        if binding.default is not None:
            return binding.default
        raise RecordError(
            "missing_feature", f"field '{name}' (input '{sig.name}') is "
            f"{'null' if name in event else 'missing'}; send it, or set "
            f"model.inputs.{sig.name}.default", "validate", name)
    return value


def _element(value: Any, sig: InputSignature, binding: InputBinding, name: str,
             refuse: type[Exception] = RecordError) -> Any:
    """One value in the input's element type, as a Python value; raises ``refuse``."""
    kind = sig.element_type
    if value is None or isinstance(value, (dict, list)):
        return _refused(refuse, name, sig, value, f"a {kind}" if value is None
                        else f"a {kind} (nested values are refused)")
    if kind == "string":
        if isinstance(value, str):
            if value.isascii() or _is_unicode(value):
                return value
            return _refused(refuse, name, sig, value, "text: it holds a lone surrogate "
                            "(an escape such as \\ud800 that is half a character)")
        if binding.cast:
            try:
                return "true" if value is True else "false" if value is False else str(value)
            except ValueError:  # an int of more digits than Python writes
                return _refused(refuse, name, sig, value, "a string")
        return _refused(refuse, name, sig, value, "a string",
                        f"; send a string, or set model.inputs.{sig.name}.cast: true")
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if binding.cast and value in (0, 1, "true", "false", "0", "1"):
            return value in (1, "true", "1")
        return _refused(refuse, name, sig, value, "true or false")
    if binding.cast and isinstance(value, str):
        value = _number(value)
    if type(value) not in _NUMBER:
        return _refused(refuse, name, sig, value, f"a number ({kind})",
                        "" if binding.cast else
                        f"; send a number, or set model.inputs.{sig.name}.cast: true")
    if kind in _INTS:
        if isinstance(value, float):
            if not (math.isfinite(value) and value.is_integer()):
                return _refused(refuse, name, sig, value, f"a whole number ({kind})")
            value = int(value)
        info = np.iinfo(sig.dtype)
        if not info.min <= value <= info.max:
            return _refused(refuse, name, sig, value,
                            f"a whole number in [{info.min}, {info.max}] ({kind})")
    return value


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _number(text: str) -> int | float | str:
    """A string ``cast`` reads as a number (an int when it is written whole), or the
    string itself when it is not one."""
    text = text.strip()
    if not _NUMBER_TEXT.fullmatch(text):
        return text
    try:
        return int(text) if _WHOLE_TEXT.fullmatch(text) else float(text)
    except ValueError:  # more digits than Python reads
        return text


def _refused(refuse: type[Exception], name: str, sig: InputSignature, value: Any,
             wanted: str, fix: str = "") -> Any:
    message = f"field '{name}' (input '{sig.name}') is {_describe(value)}, not {wanted}{fix}"
    if refuse is RecordError:
        raise RecordError("wrong_input_type", message, "validate", name.split("[")[0])
    raise refuse(message)


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    try:
        text = repr(value)
    except ValueError:  # an int of more digits than Python writes
        text = f"of {value.bit_length()} bits"
    return f"{type(value).__name__} {text[:40]}"


def _plain(value: Any) -> Any:
    """A value as JSON can carry it: bytes as base64 text."""
    return base64.b64encode(value).decode("ascii") if isinstance(value, bytes) else value
