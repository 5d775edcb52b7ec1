"""Text to token ids (operators/tokens.py), checked against the ``tokenizers`` library used
directly: the same ids, padded to the batch's longest text, cut and counted at max_length;
a 1 MB text cut as fast as a short one; each bad text refused with its field."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

from streaminfer.errors import ModelError
from streaminfer.operators.inputs import InputBinding, InputSignature, concat_feeds
from streaminfer.operators.records import RecordError
from streaminfer.operators.tokens import TextTokenizer, TokenFeedBuilder, TokenizerConfig

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "parcel", "is", "late", "refund", "my",
         "card", "was", "charged", "twice", ".", ",", "app", "crashes"]
TEXTS = ["The parcel is late.", "my card was charged twice, refund my card",
         "app crashes", "the unknown word is late"]


def _tokenizer(special: bool) -> Tokenizer:
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    if special:
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    return tok


def _library(tok: Tokenizer, texts: list[str], max_length: int) -> dict[str, np.ndarray]:
    """What the library itself gives: truncation at max_length, padding to the longest."""
    tok = Tokenizer.from_str(tok.to_str())
    tok.enable_truncation(max_length)
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    encodings = tok.encode_batch(texts)
    return {"input_ids": np.array([e.ids for e in encodings]),
            "attention_mask": np.array([e.attention_mask for e in encodings]),
            "token_type_ids": np.array([e.type_ids for e in encodings])}


def _config(tok: Tokenizer, max_length: int = 512, **names: str) -> TokenizerConfig:
    return TokenizerConfig(tok.to_str(), "text", max_length, **names)


@pytest.mark.parametrize("special", [False, True])
@pytest.mark.parametrize("max_length", [4, 7, 512])
def test_ids_mask_and_types_are_the_librarys_padded_to_the_batchs_longest(
    special: bool, max_length: int,
) -> None:
    tok = _tokenizer(special)
    text = TextTokenizer(_config(tok, max_length))
    rows = [text.encode(t, "text") for t in TEXTS]
    padded = text.pad(rows)
    expected = _library(tok, TEXTS, max_length)
    for name, array in padded.items():
        assert array.dtype == np.int64
        assert array.tolist() == expected[name].tolist(), name
    longest = max(len(tok.encode(t).ids) for t in TEXTS)
    assert padded["input_ids"].shape == (len(TEXTS), min(longest, max_length))  # not max_length
    cut = [len(tok.encode(t).ids) > max_length for t in TEXTS]
    assert [r.truncated for r in rows] == cut


def test_a_batch_of_short_texts_is_padded_to_its_own_longest_not_to_max_length() -> None:
    text = TextTokenizer(_config(_tokenizer(False), max_length=512))
    padded = text.pad([text.encode("late", "text"), text.encode("the parcel", "text")])
    assert padded["input_ids"].tolist() == [[7, 0], [4, 5]]
    assert padded["attention_mask"].tolist() == [[1, 0], [1, 1]]


def test_a_1mb_text_is_cut_and_counted_in_bounded_time_with_the_librarys_first_ids() -> None:
    tok = _tokenizer(True)
    huge = ("my card was charged twice , refund my card . " * 24_000)[:1_000_000]
    assert len(huge.encode()) == 1_000_000
    text = TextTokenizer(_config(tok, max_length=64))
    started = time.perf_counter()
    tokens = text.encode(huge, "text")
    ours = time.perf_counter() - started
    direct = Tokenizer.from_str(tok.to_str())
    direct.enable_truncation(64)
    started = time.perf_counter()
    expected = direct.encode(huge)
    library = time.perf_counter() - started
    assert tokens.truncated
    assert tokens.ids == expected.ids and len(tokens.ids) == 64
    assert tokens.ids[-1] == 3  # [SEP] kept at the end of the cut text
    assert ours * 10 < library  # it tokenized a window, not the megabyte


def test_a_1mb_text_without_whitespace_is_cut_too() -> None:
    text = TextTokenizer(_config(_tokenizer(False), max_length=8))
    tokens = text.encode("x" * 1_000_000, "text")
    assert tokens.truncated and tokens.ids == [1]  # one unknown word, cut


def test_an_empty_text_without_special_tokens_is_refused_and_with_them_scored() -> None:
    plain = TextTokenizer(_config(_tokenizer(False)))
    for empty in ("", "   \n\t"):
        with pytest.raises(RecordError) as caught:
            plain.encode(empty, "body", " (input 'input_ids')")
        assert (caught.value.error_type, caught.value.field) == ("empty_text", "body")
        assert "gives no tokens" in caught.value.message
    special = TextTokenizer(_config(_tokenizer(True)))
    assert special.encode("", "body").ids == _tokenizer(True).encode("").ids == [2, 3]


@pytest.mark.parametrize("value", [7, 1.5, True, ["late"], {"text": "late"}])
def test_a_value_that_is_not_a_string_is_refused_naming_the_field(value: Any) -> None:
    text = TextTokenizer(_config(_tokenizer(False)))
    with pytest.raises(RecordError) as caught:
        text.encode(value, "body")
    assert (caught.value.error_type, caught.value.field) == ("wrong_input_type", "body")
    assert "not a string" in caught.value.message


def test_a_lone_surrogate_is_refused_as_invalid_utf8() -> None:
    text = TextTokenizer(_config(_tokenizer(False)))
    with pytest.raises(RecordError) as caught:
        text.encode("late \ud800 parcel", "body")
    assert (caught.value.error_type, caught.value.field) == ("invalid_text", "body")
    assert "lone surrogate at character 5" in caught.value.message


SIGNATURE = (InputSignature("input_ids", "int64", (None, None)),
             InputSignature("attention_mask", "int32", (None, None)),
             InputSignature("country", "string", (None, 1)))


def test_the_feed_builder_tokenizes_one_field_and_maps_the_other_inputs() -> None:
    tok = _tokenizer(False)
    builder = TokenFeedBuilder(SIGNATURE, {"country": InputBinding(field="country")},
                               _config(tok, max_length=3))
    events = [{"text": "the parcel is late", "country": "FR"},
              {"text": "refund", "country": None},  # refused by model.inputs, not tokenized
              {"text": "app crashes", "country": "DE"}]
    rows, refused = [], []
    for event in events:
        try:
            rows.append(builder.values(event))
        except RecordError as error:
            refused.append((error.error_type, error.field))
    assert refused == [("missing_feature", "country")]
    feed, rejected = builder.matrix(rows)
    assert rejected == {}
    assert feed["input_ids"].tolist() == [[4, 5, 6], [16, 17, 0]]
    assert feed["attention_mask"].dtype == np.int32  # the input's type
    assert feed["country"].tolist() == [["FR"], ["DE"]]
    assert "token_type_ids" not in feed  # the model has no such input
    assert builder.truncated(rows) == 1
    assert builder.feature_row(events[0]) == {"country": "FR", "text": "the parcel is late"}
    with pytest.raises(RecordError, match="'text' \\(input 'input_ids'\\) is missing"):
        builder.values({"country": "FR"})


def test_a_fixed_sequence_length_is_padded_to_and_bounds_max_length() -> None:
    fixed = (InputSignature("ids", "int64", (None, 6)),)
    builder = TokenFeedBuilder(fixed, {}, _config(_tokenizer(False), 6, input_ids="ids"))
    feed, _ = builder.matrix([builder.values({"text": "late"})])
    assert feed["ids"].tolist() == [[7, 0, 0, 0, 0, 0]]
    with pytest.raises(ModelError, match=r"takes sequences of 6 tokens; set "
                       r"model\.tokenizer\.max_length to at most 6"):
        TokenFeedBuilder(fixed, {}, _config(_tokenizer(False), 7, input_ids="ids"))


@pytest.mark.parametrize(("signature", "bindings", "message"), [
    ((InputSignature("ids", "int64", (None, None)),), {},
     "model m has no input input_ids \\(model.tokenizer.input_ids\\); it has ids"),
    ((InputSignature("input_ids", "float", (None, None)),), {},
     "token ids go to int64 or int32 inputs"),
    (SIGNATURE[:2], {"attention_mask": InputBinding(field="mask")},
     "model.inputs maps attention_mask, which model.tokenizer feeds"),
])
def test_a_model_the_tokenizer_cannot_feed_is_refused(
    signature: tuple[InputSignature, ...], bindings: dict[str, InputBinding], message: str,
) -> None:
    with pytest.raises(ModelError, match=message):
        TokenFeedBuilder(signature, bindings, _config(_tokenizer(False)), "m")


def test_feeds_of_several_batches_merge_padded_to_the_widest() -> None:
    one = {"input_ids": np.array([[5, 6, 7]]), "attention_mask": np.array([[1, 1, 1]])}
    two = {"input_ids": np.array([[8], [9]]), "attention_mask": np.array([[1], [1]])}
    merged = concat_feeds([one, two], {"input_ids": 99})
    assert isinstance(merged, dict)
    assert merged["input_ids"].tolist() == [[5, 6, 7], [8, 99, 99], [9, 99, 99]]
    assert merged["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0], [1, 0, 0]]


def test_the_pad_id_is_the_tokenizers_own() -> None:
    tok = _tokenizer(False)
    tok.enable_padding(pad_id=17, pad_token="crashes")
    text = TextTokenizer(_config(tok))
    padded = text.pad([text.encode("late", "t"), text.encode("the parcel", "t")])
    assert padded["input_ids"].tolist() == [[7, 17], [4, 5]]


def test_a_max_length_the_special_tokens_fill_is_refused_at_load() -> None:
    with pytest.raises(ModelError, match=r"max_length is 2, but the tokenizer adds 2 special "
                       r"tokens to every text; set it to more than 2"):
        TextTokenizer(_config(_tokenizer(True), max_length=2))
    assert TextTokenizer(_config(_tokenizer(True), 3)).encode("late late", "t").ids == [2, 7, 3]
