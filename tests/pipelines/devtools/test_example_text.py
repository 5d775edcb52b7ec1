"""The text classifier example: a shipped corpus of labelled support messages, and a model
with one string input whose skl2onnx export scores texts as scikit-learn does (its TF-IDF
tokenizer regex included), fed here straight to ONNX Runtime."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
import yaml

from streaminfer.operators.profile import Profile, profile_path
from streaminfer.pipelines.devtools.example_models import support_messages
from streaminfer.pipelines.devtools.example_text import SUPPORT_CLASSES, text_pipeline

REPO = Path(__file__).parents[3]
#: Texts off the corpus: empty, blank, accents, another script, emoji, underscores,
#: digits, repeated words, a sign Python lowercases to ASCII, mixed case.
ODD_TEXTS = ["", "   ", "Écran cassé, facture erronée", "日本語 order", "refund 🙏🙏",
             "I_N_V_O_I_C_E please", "error 500 500 500", "refund refund refund card",
             "\u212aelvin account", "PASSWORD reset", "a b c d", "x" * 5_000]


def test_the_corpus_ships_labelled_messages_of_each_class() -> None:
    data = support_messages()
    texts = data.X[:, 0].tolist()
    assert len(texts) >= 300 and len(set(texts)) == len(texts)
    assert all(isinstance(t, str) and t.strip() for t in texts)
    counts = Counter(data.y.tolist())
    assert sorted(counts) == list(range(len(SUPPORT_CLASSES)))
    assert min(counts.values()) >= 80
    config = yaml.safe_load((REPO / "configs" / "text-classifier.yaml").read_text())
    assert tuple(config["model"]["postprocess"]["classes"]) == SUPPORT_CLASSES


def test_the_corpus_is_learnable_on_messages_held_out() -> None:
    data = support_messages()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(data.y))
    train, test = order[:300], order[300:]
    pipe = text_pipeline().fit(data.X[train, 0], data.y[train])
    assert (pipe.predict(data.X[test, 0]) == data.y[test]).mean() > 0.9


def test_the_onnx_model_scores_text_as_scikit_learn_does(
    model_factory: Callable[[str], Path],
) -> None:
    path = model_factory("text_classifier")
    profile = Profile.read(profile_path(path))  # free text: prediction drift only
    assert profile.features == () and profile.extra["free_text"] == ["text"]
    assert profile.prediction is not None and profile.prediction.output == "label"
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    [text_input] = session.get_inputs()
    assert (text_input.name, text_input.type) == ("text", "tensor(string)")
    data = support_messages()
    fitted = text_pipeline().fit(data.X[:, 0], data.y)
    texts = np.array([*data.X[:, 0].tolist(), *ODD_TEXTS], dtype=object)
    labels, probabilities = session.run(["label", "probabilities"],
                                        {"text": texts.reshape(-1, 1)})
    expected = fitted.predict_proba(texts)
    assert np.abs(probabilities - expected).max() < 1e-5
    assert (labels == expected.argmax(axis=1)).all()
