"""The text classifier example (``text_classifier``): support messages sorted into the team
that answers them by TF-IDF and a logistic regression, with one string input.

The 400 messages ship beside this module (``support_messages.yaml``, generated once from
templates with a fixed seed); skl2onnx exports the fitted pipeline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

#: The text classifier's classes, in the order of its label and probabilities.
SUPPORT_CLASSES = ("account", "billing", "shipping", "technical")
#: skl2onnx's Tokenizer matches this regex as scikit-learn does; case is kept (lowercasing
#: would put a StringNormalizer in the graph, which needs an installed locale).
TEXT_TOKENS = r"[a-zA-Z0-9]+"


def support_messages() -> tuple[np.ndarray, np.ndarray]:
    """400 short support messages (``support_messages.yaml``, shipped beside this module),
    labelled by the team that answers them: an object array [n, 1] of texts, and each one's
    index in ``SUPPORT_CLASSES``."""
    import yaml

    rows = yaml.safe_load(Path(__file__).with_name("support_messages.yaml").read_text(
        encoding="utf-8"))["messages"]
    X = np.empty((len(rows), 1), dtype=object)
    X[:, 0] = [row["text"] for row in rows]
    y = np.array([SUPPORT_CLASSES.index(row["label"]) for row in rows], dtype=np.int64)
    return X, y


def text_pipeline(C: float = 10.0) -> Any:
    """The text classifier, unfitted: TF-IDF over words and word pairs (``TEXT_TOKENS``,
    case kept), then a logistic regression."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(
        TfidfVectorizer(token_pattern=TEXT_TOKENS, ngram_range=(1, 2), lowercase=False),
        LogisticRegression(max_iter=1000, C=C))


def fit_text_classifier(X: Any, y: np.ndarray, **params: Any) -> Any:
    """:func:`text_pipeline` fitted on the one text column of ``X`` (a DataFrame, as
    retraining gives it): ``retrain.estimator.function:
    streaminfer.pipelines.devtools.example_text:fit_text_classifier``."""
    if getattr(X, "shape", (0, 0))[1:] != (1,):
        raise ValueError(f"the text classifier takes one text column, not {X.shape}")
    return text_pipeline(**params).fit(X.iloc[:, 0] if hasattr(X, "iloc") else X[:, 0], y)


def train_text_classifier() -> bytes:
    """:func:`text_pipeline` fitted on :func:`support_messages`, exported by skl2onnx with
    one string input ``text`` [n, 1]: outputs ``label`` and ``probabilities``."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import StringTensorType

    from streaminfer.pipelines.lifecycle.trainers import OPSET

    X, y = support_messages()
    pipe = text_pipeline().fit(X[:, 0], y)
    onx = to_onnx(pipe, initial_types=[("text", StringTensorType([None, 1]))],
                  options={id(pipe): {"zipmap": False}}, target_opset=OPSET)
    return bytes(onx.SerializeToString())
