"""One input's values for a whole batch at once: the screen that lets a column skip the
per-value check, and the column as its tensor.

:meth:`FeedBuilder.rows <streaminfer.operators.inputs.FeedBuilder.rows>` reads a field of
every event of a batch into one list. :func:`screened` says whether every value of that list
is one that the per-value check (``inputs._element``) would return unchanged: text of ASCII
for a string input, an ``int`` or ``float`` (not a ``bool``) for a float input, an ``int`` in
range for an int input, a ``bool`` for a bool input. Only then is the list taken as it is;
any other column goes through the per-value check, value by value, which refuses or casts
each value with its reason. So the screen decides speed, never an outcome.

>>> screened(["FR", "DE"], "string", None), screened(["FR", 3], "string", None)
(True, False)
>>> screened([1, 2.5], "float", None), screened([True], "float", None)
(True, False)
>>> screened([1, 300], "uint8", (0, 255)), screened([1, 200], "uint8", (0, 255))
(False, True)
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from streaminfer.errors import ModelError

if TYPE_CHECKING:
    from streaminfer.operators.inputs import InputBinding, InputSignature

_NUMBERS = frozenset((int, float))
_INT = frozenset((int,))
_STR = frozenset((str,))
_BOOL = frozenset((bool,))


def screened(column: list[Any], kind: str, bounds: tuple[int, int] | None) -> bool:
    """Whether each value of ``column`` is already what an input of element type ``kind``
    takes, unchanged (``bounds``: an int input's range)."""
    if not column:
        return True
    types = set(map(type, column))
    if kind == "string":
        return types <= _STR and "".join(column).isascii()
    if kind == "bool":
        return types <= _BOOL
    if bounds is not None:
        return types <= _INT and bounds[0] <= min(column) and max(column) <= bounds[1]
    return types <= _NUMBERS


def tensor(column: list[Any] | np.ndarray, sig: InputSignature) -> np.ndarray:
    """A batch's values of one input (a list, or an array of a file's column) as its
    tensor: ``[n]`` or ``[n, 1]`` for one value a row (by the input's rank), ``[n, k]`` for
    rows."""
    if sig.element_type == "string":
        if len(column) and isinstance(column[0], list):
            array = np.array(column, dtype=object)
        else:
            array = np.empty(len(column), dtype=object)
            array[:] = column
    else:
        with np.errstate(over="ignore", invalid="ignore"):
            try:
                array = np.asarray(column, dtype=sig.dtype)
            except OverflowError:  # an int beyond float64: inf, refused as not finite
                array = np.asarray([_clip(v) for v in column], dtype=sig.dtype)
    if len(sig.shape) == 2 and array.ndim == 1:
        array = array.reshape(len(column), 1)
    if len(sig.shape) == 2 and not len(column):
        array = array.reshape(0, sig.width() or 1)
    return array


def check_shape(sig: InputSignature, binding: InputBinding, model: str) -> None:
    """Refuse (``ModelError``) a binding that cannot feed an input of this shape."""
    rank = len(sig.shape)
    where = f"model {model}: input {sig.name} has shape {list(sig.shape)}"
    if rank not in (1, 2):
        raise ModelError(f"{where}; streaminfer feeds inputs of rank 1 or 2")
    if binding.field is not None and rank == 2 and sig.width() not in (None, 1):
        raise ModelError(f"{where}: it takes {sig.width()} values a row, not one field; map it "
                         "with 'fields' (a list) or 'array_field'")
    if binding.fields is not None and (rank != 2 or sig.width() not in (None,
                                                                        len(binding.fields))):
        raise ModelError(f"{where}; model.inputs.{sig.name}.fields lists "
                         f"{len(binding.fields)} fields")
    if binding.array_field is not None and rank != 2:
        raise ModelError(f"{where}; an array_field feeds an input of shape [batch, n]")


def _clip(value: Any) -> Any:
    if isinstance(value, list):
        return [_clip(v) for v in value]
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf
