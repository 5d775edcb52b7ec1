"""The token-id example: seeded support tickets, a tokenizer.json written beside the model
with its sha256, and a model taking input_ids and attention_mask that sorts tickets it was
not trained on (fed here ids the tokenizers library gives, not streaminfer's tokenization)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from tokenizers import Tokenizer

from streaminfer.operators.model_runner import sha256_hex
from streaminfer.operators.profile import Profile, profile_path
from streaminfer.pipelines.devtools.example_tokens import (
    CLASSES,
    support_tickets,
    tokenizer_path,
    training_tickets,
)


def test_the_tickets_are_seeded_and_balanced() -> None:
    one, again = support_tickets(300, seed=3), support_tickets(300, seed=3)
    assert one[0] == again[0] and (one[1] == again[1]).all()
    assert np.bincount(one[1]).tolist() == [100, 100, 100]
    texts, labels = training_tickets()
    assert len(texts) == 600 and len(set(texts)) > 400 and len(labels) == 600


def test_the_model_takes_token_ids_and_sorts_unseen_tickets(
    model_factory: Callable[[str], Path],
) -> None:
    path = model_factory("text_tokens")
    profile = Profile.read(profile_path(path))  # token ids: prediction drift only
    assert profile.features == () and profile.prediction is not None
    assert profile.extra["several_values"] == ["input_ids", "attention_mask"]
    assert profile.prediction.expected[:3] == pytest.approx([1 / 3] * 3, abs=0.1)
    tok_file = tokenizer_path(path)
    digest = Path(f"{tok_file}.sha256").read_text().split()[0]
    assert digest == sha256_hex(tok_file.read_bytes())
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert {i.name: i.type for i in session.get_inputs()} == {
        "input_ids": "tensor(int64)", "attention_mask": "tensor(int64)"}
    tok = Tokenizer.from_file(str(tok_file))
    tok.enable_padding()
    texts, labels = support_tickets(900, seed=123)
    encodings = tok.encode_batch(texts)
    label, probabilities = session.run(["label", "probabilities"], {
        "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64)})
    assert probabilities.shape == (900, len(CLASSES))
    assert (label == labels).mean() > 0.95
    # padding does not move a text's scores: alone (no padding) it scores the same
    alone = tok.encode(texts[0])
    _, single = session.run(["label", "probabilities"], {
        "input_ids": np.array([alone.ids], dtype=np.int64),
        "attention_mask": np.ones((1, len(alone.ids)), dtype=np.int64)})
    np.testing.assert_allclose(single[0], probabilities[0], atol=1e-6)
