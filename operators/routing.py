"""Choose the model for an event: by a field's value, or by a weighted split fixed by its id."""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from itertools import accumulate
from typing import Any

from streaminfer.operators.records import RecordError


def id_share(event_id: Any, salt: str = "") -> float:
    """A stable number in [0, 1) for an event id (a hash, the same in every process).

    >>> id_share("e1") == id_share("e1") != id_share("e1", salt="canary")
    True
    """
    return zlib.crc32(f"{salt}{event_id}".encode()) / 2**32


class Router:
    """Routes events to model names.

    >>> r = Router(field="country", routes={"US": "us", "DE": "eu"}, default="eu")
    >>> r.route({"country": "US"}, "e1"), r.route({}, "e2")
    ('us', 'eu')
    >>> ab = Router(weights={"a": 1, "b": 0})
    >>> ab.route({}, "any id")
    'a'
    """

    def __init__(
        self, *, field: str | None = None, routes: Mapping[str, str] | None = None,
        default: str | None = None, weights: Mapping[str, float] | None = None,
    ) -> None:
        if (field is None) == (weights is None):
            raise ValueError("give exactly one of field or weights")
        self.field = field
        self.routes = dict(routes or {})
        self.default = default
        if weights is not None:
            names = [name for name, weight in weights.items() if weight > 0]
            total = sum(weights[name] for name in names)
            self._names = names
            self._bounds = [bound / total for bound in accumulate(weights[n] for n in names)]

    def route(self, event: dict[str, Any], event_id: Any) -> str:
        """The model for ``event``; raises :class:`RecordError` when there is none."""
        if self.field is None:
            share = id_share(event_id)
            for name, bound in zip(self._names, self._bounds, strict=True):
                if share < bound:
                    return name
            return self._names[-1]
        value = event.get(self.field)
        model = self.routes.get(str(value)) if value is not None else None
        if model is not None:
            return model
        if self.default is not None:
            return self.default
        raise RecordError(
            "no_route",
            f"no model for {self.field}={value!r}; routes cover {', '.join(sorted(self.routes))}"
            " and routing has no default",
            "validate", self.field,
        )
