"""The events of the typed examples' demos (``streaminfer demo --example``), made by the
generators ``build-models`` trains the models with, under other seeds: mixed card
transactions (strings beside numbers in their units), support messages from the shipped
corpus, support tickets for the token-id model. Each good event's label is its true class;
every ``bad_every``-th event is malformed, one kind after the other.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from streaminfer.pipelines.devtools.demo_run import Event, event_key

#: Events a generator call makes at once (a chunk ``c`` is seeded ``seed + c``).
CHUNK = 1_000
#: A malformed event's field left out.
MISSING = object()

#: Rows of one chunk: each event's fields, and its true class's name.
Rows = tuple[list[dict[str, Any]], list[str]]


def fraud_rows(chunk: int) -> Rows:
    """Mixed card transactions (``fraud_mixed_transactions``, seed 1,000 + ``chunk``; the
    model was trained on seed 19): country, category and channel as strings, the amount
    in currency, the hour and the card's age in days."""
    from streaminfer.pipelines.devtools.example_models import fraud_mixed_transactions

    data = fraud_mixed_transactions(CHUNK, seed=1_000 + chunk)
    rows = []
    for values in data.X.tolist():
        row = dict(zip(data.features, values, strict=True))
        row["hour"], row["card_age_days"] = int(row["hour"]), int(row["card_age_days"])
        rows.append(row)
    return rows, [("legit", "fraud")[y] for y in data.y.tolist()]


def message_rows(chunk: int) -> Rows:
    """The shipped support messages (``support_messages.yaml``), each round through them
    shuffled (seed 2,000 + ``chunk``), in ``message``."""
    from streaminfer.pipelines.devtools.example_text import SUPPORT_CLASSES

    X, y = _messages()
    rng = np.random.default_rng(2_000 + chunk)
    rounds = -(-CHUNK // len(y))
    order = np.concatenate([rng.permutation(len(y)) for _ in range(rounds)])[:CHUNK]
    return ([{"message": str(X[i, 0])} for i in order.tolist()],
            [SUPPORT_CLASSES[int(y[i])] for i in order.tolist()])


@functools.cache
def _messages() -> tuple[np.ndarray, np.ndarray]:
    """The shipped corpus, read once."""
    from streaminfer.pipelines.devtools.example_text import support_messages

    return support_messages()


def ticket_rows(chunk: int) -> Rows:
    """Support tickets (``example_tokens.support_tickets``, seed 3,000 + ``chunk``; the
    model was trained on seed 19), in ``text``."""
    from streaminfer.pipelines.devtools.example_tokens import CLASSES, support_tickets

    texts, y = support_tickets(CHUNK, seed=3_000 + chunk)
    return [{"text": t} for t in texts], [CLASSES[i] for i in y.tolist()]


@dataclass(frozen=True)
class TypedExample:
    """One typed example's demo: its config, model, events and how they go bad."""

    config: str                       # configs/<config>, run on the embedded broker
    model: str                        # its ``example_models.EXAMPLES`` name
    title: str                        # the screen's title
    rows: Callable[[int], Rows]       # a chunk of events' fields and true classes
    #: Malformed events, one kind after the other: (field, value; MISSING: left out); an
    #: event cut in half (invalid JSON) follows the last.
    bad: tuple[tuple[str, Any], ...]
    rate: float                       # events/s by default
    #: Model outputs the demo publishes beside the config's (``model.outputs``).
    outputs: dict[str, str] = field(default_factory=dict)
    #: The event field holding the event time in ms, if the config reads one.
    time_field: str | None = None


#: Rates: one worker and the joiner keep up with them on a busy 2-core machine, beside the
#: broker and the generator (docs/decisions.md, 2026-12-07).
TYPED_EXAMPLES: dict[str, TypedExample] = {
    "fraud-mixed": TypedExample(
        "fraud-mixed.yaml", "fraud_mixed", "card fraud, strings beside numbers", fraud_rows,
        (("amount", "12.50 EUR"), ("country", MISSING), ("category", {"code": "gaming"})),
        rate=500.0, time_field="event_time"),
    "text": TypedExample(
        "text-classifier.yaml", "text_classifier", "support messages routed by TF-IDF",
        message_rows, (("message", 42), ("message", MISSING), ("message", {"body": "hi"})),
        rate=300.0),
    "tokens": TypedExample(
        "text-tokens.yaml", "text_tokens", "support tickets by token ids, with embeddings",
        ticket_rows, (("text", ""), ("text", 12), ("text", MISSING)), rate=500.0,
        outputs={"embedding": "embedding"}),
}


class TypedFeed:
    """``example``'s events as JSON, keyed and identified (``id_field``) by ``evt-<n>``."""

    shift_from: int | None = None
    shift_note = ""

    def __init__(self, example: TypedExample, *, id_field: str | None, bad_every: int) -> None:
        self.example, self.id_field, self.bad_every = example, id_field, bad_every
        self.model = example.model
        self._chunk: int = -1  # the chunk _rows holds
        self._rows: Rows = ([], [])

    def event(self, index: int) -> Event:
        key = event_key(index)
        chunk, at = divmod(index, CHUNK)
        if chunk != self._chunk:
            self._chunk, self._rows = chunk, self.example.rows(chunk)
        fields = dict(self._rows[0][at])
        if self.example.time_field is not None:
            fields[self.example.time_field] = int(time.time() * 1000)
        if self.id_field is not None:
            fields = {self.id_field: key.decode(), **fields}
        if not (self.bad_every and index % self.bad_every == self.bad_every - 1):
            return Event(key, orjson.dumps(fields), label=self._rows[1][at])
        kinds = self.example.bad
        kind = (index // self.bad_every) % (len(kinds) + 1)
        if kind == len(kinds):  # cut in half: invalid JSON
            value = orjson.dumps(fields)
            return Event(key, value[: len(value) // 2], bad=True)
        name, bad = kinds[kind]
        fields.pop(name) if bad is MISSING else fields.update({name: bad})
        return Event(key, orjson.dumps(fields), bad=True)
