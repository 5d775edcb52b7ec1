"""Text to token ids for models that take them (``model.tokenizer``), with the ``tokenizers``
library and a ``tokenizer.json``.

Each event's text is tokenized on its own (:meth:`TextTokenizer.encode`), truncated to
``max_length`` tokens (counted: :attr:`Tokens.truncated`); a batch is padded to its longest
member, not to ``max_length`` (:meth:`TextTokenizer.pad`). A text longer than
``max_length * CHARS_PER_TOKEN`` characters is cut at the next whitespace before it is
tokenized, so a 1 MB text costs what a short one does. What is refused, each a
:class:`RecordError` naming the field: a missing or null text (``missing_feature``), a value
that is not a string (``wrong_input_type``), a string holding a lone surrogate, which no
UTF-8 encodes (``invalid_text``), and a text that gives no tokens (``empty_text``: a
zero-length sequence cannot be fed; a tokenizer that adds special tokens gives an empty
text those, and it is scored).

>>> from tokenizers import Tokenizer, models, pre_tokenizers
>>> tok = Tokenizer(models.WordLevel({"[PAD]": 0, "[UNK]": 1, "late": 2, "refund": 3},
...                                  unk_token="[UNK]"))
>>> tok.pre_tokenizer = pre_tokenizers.Whitespace()
>>> text = TextTokenizer(TokenizerConfig(tok.to_str(), "text", max_length=2))
>>> rows = [text.encode("late refund again", "text"), text.encode("late", "text")]
>>> [r.truncated for r in rows], text.pad(rows)["attention_mask"].tolist()
([True, False], [[1, 1], [1, 0]])
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from streaminfer.errors import ModelError
from streaminfer.operators.inputs import FeedBuilder, InputBinding, InputSignature, _describe
from streaminfer.operators.records import RecordError

#: A text longer than ``max_length`` times this many characters is cut (at the next
#: whitespace, within as many characters again) before it is tokenized.
CHARS_PER_TOKEN = 32
_SPACE = re.compile(r"\s")
_INTS = frozenset({"int64", "int32"})


@dataclass(frozen=True)
class TokenizerConfig:
    """A model's tokenizer: the ``tokenizer.json`` text, the event field holding the text,
    the most tokens a text keeps, and the model inputs fed (those the model has)."""

    json: str
    field: str
    max_length: int = 512
    input_ids: str = "input_ids"
    attention_mask: str = "attention_mask"
    token_type_ids: str = "token_type_ids"

    def input_names(self) -> tuple[str, str, str]:
        return (self.input_ids, self.attention_mask, self.token_type_ids)


def load_tokenizer(text: str, where: str = "model.tokenizer") -> Any:
    """A ``tokenizers.Tokenizer`` from a ``tokenizer.json``'s text; ``ModelError`` if the
    library cannot read it."""
    from tokenizers import Tokenizer

    try:
        return Tokenizer.from_str(text)
    except Exception as exc:  # the library raises plain Exceptions
        raise ModelError(f"{where}: not a tokenizer.json the tokenizers library reads: "
                         f"{exc}") from None


@dataclass(frozen=True)
class Tokens:
    """One text's token ids (special tokens included), and whether it was cut."""

    ids: list[int]
    type_ids: list[int]
    truncated: bool


class TextTokenizer:
    """Tokenizes texts one by one, pads a batch's to its longest."""

    def __init__(self, config: TokenizerConfig, width: int | None = None) -> None:
        """``width``: the model's fixed sequence length, if it has one (padded to it)."""
        tokenizer = load_tokenizer(config.json)
        padding = tokenizer.padding
        self.pad_id = int(padding["pad_id"]) if padding else (
            tokenizer.token_to_id("[PAD]") or 0)
        tokenizer.no_padding()
        special = tokenizer.num_special_tokens_to_add(False)
        if config.max_length <= special:  # the library would not truncate at all
            raise ModelError(f"model.tokenizer.max_length is {config.max_length}, but the "
                             f"tokenizer adds {special} special tokens to every text; set it "
                             f"to more than {special}")
        tokenizer.enable_truncation(config.max_length)
        self._tokenizer = tokenizer
        self.max_length = config.max_length
        self.width = width
        self._window = config.max_length * CHARS_PER_TOKEN

    def encode(self, value: Any, field: str, what: str = "") -> Tokens:
        """One event's text as token ids; raises :class:`RecordError` if it has none."""
        if not isinstance(value, str):
            raise RecordError("wrong_input_type", f"field '{field}'{what} is "
                              f"{_describe(value)}, not a string (text to tokenize)",
                              "validate", field)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise RecordError("invalid_text", f"field '{field}'{what} is not valid UTF-8 text "
                              f"(a lone surrogate at character {exc.start}); send UTF-8",
                              "validate", field) from None
        text, cut = value, False
        if len(value) > self._window:
            found = _SPACE.search(value, self._window, 2 * self._window)
            text, cut = value[: found.start() if found else 2 * self._window], True
        try:
            encoding = self._tokenizer.encode(text)
        except Exception as exc:  # the library's own; not seen on a valid str
            raise RecordError("invalid_text", f"field '{field}'{what}: the tokenizer failed: "
                              f"{exc}", "validate", field) from None
        if not encoding.ids:
            raise RecordError("empty_text", f"field '{field}'{what} gives no tokens (it is "
                              "empty or only whitespace); a model cannot score an empty "
                              "sequence", "validate", field)
        return Tokens(encoding.ids, encoding.type_ids, cut or bool(encoding.overflowing))

    def pad(self, rows: Sequence[Tokens]) -> dict[str, np.ndarray]:
        """``input_ids``, ``attention_mask`` and ``token_type_ids`` of a batch, int64
        ``[n, longest]`` (or ``[n, width]``), padded after each text's tokens."""
        longest = self.width or max((len(r.ids) for r in rows), default=0)
        ids = np.full((len(rows), longest), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), longest), dtype=np.int64)
        types = np.zeros((len(rows), longest), dtype=np.int64)
        for i, row in enumerate(rows):
            ids[i, : len(row.ids)] = row.ids
            mask[i, : len(row.ids)] = 1
            types[i, : len(row.type_ids)] = row.type_ids
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


class TokenFeedBuilder(FeedBuilder):
    """A :class:`FeedBuilder` whose token inputs (``input_ids``, ``attention_mask``,
    ``token_type_ids``: those the model has) come from one text field through a tokenizer;
    its other inputs, if any, from ``model.inputs`` as usual."""

    def __init__(self, signature: Sequence[InputSignature], bindings: Mapping[str, InputBinding],
                 config: TokenizerConfig, model: str = "model") -> None:
        names = [s.name for s in signature]
        if config.input_ids not in names:
            raise ModelError(f"model {model} has no input {config.input_ids} "
                             f"(model.tokenizer.input_ids); it has {', '.join(names)}")
        token_names = config.input_names()
        fed = [s for s in signature if s.name in token_names]
        for sig in fed:
            if sig.element_type not in _INTS or len(sig.shape) != 2:
                raise ModelError(f"model {model}: input {sig.name} is {sig.element_type} "
                                 f"{list(sig.shape)}; token ids go to int64 or int32 inputs "
                                 "of shape [batch, sequence]")
        twice = sorted(set(bindings) & set(token_names))
        if twice:
            raise ModelError(f"model {model}: model.inputs maps {', '.join(twice)}, which "
                             "model.tokenizer feeds; remove it from model.inputs")
        widths = [w for w in (sig.width() for sig in fed) if w is not None]
        width = min(widths) if widths else None
        if width is not None and config.max_length > width:
            raise ModelError(f"model {model} takes sequences of {width} tokens; set "
                             f"model.tokenizer.max_length to at most {width}")
        super().__init__([s for s in signature if s.name not in token_names], bindings, model)
        self.config = config
        self.token_inputs = tuple(fed)
        self.tokenizer = TextTokenizer(config, width)
        self.fields = sorted({config.field, *self.fields})
        self._what = f" (input '{config.input_ids}')"

    def values(self, event: dict[str, Any]) -> tuple[Any, ...]:
        return (self._encoded(event), *super().values(event))

    def rows(self, events: Sequence[dict[str, Any]]) -> tuple[list[tuple[Any, ...]],
                                                              dict[int, RecordError]]:
        encoded: list[Any] = []
        refused: dict[int, RecordError] = {}
        for index, event in enumerate(events):
            try:
                encoded.append(self._encoded(event))
            except RecordError as error:
                refused[index] = error
        live = [i for i in range(len(events)) if i not in refused]
        rows, later = super().rows([events[i] for i in live] if refused else events)
        for k, why in later.items():
            refused[live[k]] = why
        kept = [e for k, e in enumerate(encoded) if k not in later] if later else encoded
        return [(e, *row) for e, row in zip(kept, rows, strict=True)], refused

    def _encoded(self, event: dict[str, Any]) -> Any:
        field = self.config.field
        value = event.get(field)
        if value is None:
            raise RecordError("missing_feature", f"field '{field}'{self._what} is "
                              f"{'null' if field in event else 'missing'}; send the text to "
                              "tokenize", "validate", field)
        return self.tokenizer.encode(value, field, self._what)

    def matrix(self, rows: Sequence[Sequence[Any]]) -> tuple[dict[str, np.ndarray],
                                                             dict[int, RecordError]]:
        feed, rejected = super().matrix([row[1:] for row in rows])
        padded = self.tokenizer.pad([row[0] for i, row in enumerate(rows) if i not in rejected])
        roles = dict(zip(self.config.input_names(), padded.values(), strict=True))
        for sig in self.token_inputs:
            feed[sig.name] = roles[sig.name].astype(sig.dtype, copy=False)
        return feed, rejected

    def truncated(self, rows: Sequence[Sequence[Any]]) -> int:
        return sum(1 for row in rows if row[0].truncated)

    def pad_values(self) -> dict[str, int]:
        """What pads each token input when feeds of several batches are merged."""
        return {self.config.input_ids: self.tokenizer.pad_id}

