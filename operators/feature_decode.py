"""Decode a JSON event straight to its feature row, without the event's dict: the scorer's
fast path for a model fed by ``source.features`` (docs/decisions.md, 2026-12-07).

msgspec decodes into a struct of just the fields read (the features, the id, the event
time), checking each feature is a number as it goes, in about half the time of orjson's
dict and picking from it. It only says yes or no: an event it declines (not ASCII, a
feature missing or not a number, an integer beyond 64 bits, NaN, anything unusual) goes
the general way (:class:`~streaminfer.operators.codecs.JsonCodec` and
:class:`~streaminfer.operators.features.FeatureExtractor`), which scores it or says why
not. What it accepts, it reads as orjson does: the same values, ints kept as ints.

>>> fd = FeatureDecoder(["a", "b"], id_field="id", event_time_field=None)
>>> fd.decode(b'{"id": "e-1", "a": 1, "b": 2.5, "note": "ignored"}')
((1, 2.5), {'id': 'e-1'})
>>> fd.decode(b'{"id": "e-2", "a": "1", "b": 2.5}') is None  # the general path says why
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import msgspec

#: orjson reads integers up to 64 bits as ints and larger ones as floats: those larger than
#: int64 are declined here (msgspec's bounds stop at int64), so both read what is accepted alike.
_Int = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
_Number = _Int | float
_Scalar = str | _Int | float | None  # an id or event time of another JSON type: declined


class FeatureDecoder:
    """Decodes events to ``(feature row, event)``, the event holding only the id and event
    time (and, with ``keep_features``, the features by name: a prediction's ``features``)."""

    def __init__(self, fields: Sequence[str], *, id_field: str | None,
                 event_time_field: str | None, keep_features: bool = False) -> None:
        if len(set(fields)) != len(fields):
            raise ValueError("feature names repeat")
        self.fields = list(fields)
        extra = [name for name in dict.fromkeys((id_field, event_time_field))
                 if name is not None and name not in fields]
        names = self.fields + extra
        struct = msgspec.defstruct(
            "Event",
            [(f"x{i}", _Number) for i in range(len(fields))]
            + [(f"x{len(fields) + i}", _Scalar, None) for i in range(len(extra))],
            rename={f"x{i}": name for i, name in enumerate(names)},
            gc=False,
        )
        self._decoder = msgspec.json.Decoder(struct)
        self._width = len(fields)
        # where each field of the event returned is in the struct's values
        kept = [id_field, event_time_field] + (self.fields if keep_features else [])
        self._event = [(name, names.index(name)) for name in dict.fromkeys(kept)
                       if name is not None]
        # the id alone, most often: a dict display, 0.2 us an event less than the comprehension
        self._one = self._event[0] if len(self._event) == 1 else None

    def decode(self, value: bytes) -> tuple[tuple[Any, ...], dict[str, Any]] | None:
        """The feature row and the event of ``value``; None when declined."""
        if not value.isascii():  # msgspec does not check the UTF-8 of the fields it skips
            return None
        try:
            values = msgspec.structs.astuple(self._decoder.decode(value))
        except msgspec.MsgspecError:
            return None
        if self._one is not None:
            name, at = self._one
            return values[:self._width], {name: values[at]}
        return values[:self._width], {name: values[at] for name, at in self._event}
