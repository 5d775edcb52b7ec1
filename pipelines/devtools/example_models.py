"""The example models of the demo, the configs and the tests, trained here from data that
scikit-learn ships (no downloads), exported to ONNX with a ``.sha256`` file beside each.

``streaminfer build-models`` writes them to ``models/``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from streaminfer.operators.model_runner import write_model_file
from streaminfer.pipelines.lifecycle.trainers import export_onnx

if TYPE_CHECKING:
    from streaminfer.operators.pictures import PictureConfig


@dataclass(frozen=True)
class Dataset:
    """Feature rows with their field names, and the target."""

    features: list[str]
    X: np.ndarray
    y: np.ndarray


def _field(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def breast_cancer() -> Dataset:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    return Dataset([_field(n) for n in data.feature_names], data.data, data.target)


def diabetes() -> Dataset:
    from sklearn.datasets import load_diabetes

    data = load_diabetes()
    return Dataset([_field(n) for n in data.feature_names], data.data, data.target)


def wine() -> Dataset:
    from sklearn.datasets import load_wine

    data = load_wine()
    return Dataset([_field(n) for n in data.feature_names], data.data, data.target)


FRAUD_FEATURES = [
    "amount", "hour", "merchant_risk", "card_age_days", "distance_km",
    "txn_last_hour", "avg_amount_30d", "foreign",
]


#: Share of fraudulent transactions in :func:`fraud_transactions`.
FRAUD_RATE = 0.02


def fraud_transactions(rows: int, seed: int) -> Dataset:
    """Synthetic card transactions in their real units, ``FRAUD_RATE`` of them fraudulent.

    amount (currency, long-tailed around the card's 30-day average; fraud spends several
    times it), hour 0-23 (fraud leans to the night), merchant_risk 0-1, card_age_days (fraud
    leans to new cards), distance_km from home, txn_last_hour (a count), avg_amount_30d,
    foreign 0/1. The two classes overlap: the signal is strong, not perfect.
    """
    rng = np.random.default_rng(seed)
    y = (rng.random(rows) < FRAUD_RATE).astype(np.int64)
    bad = y == 1

    def pick(fraud: np.ndarray, legit: np.ndarray) -> np.ndarray:
        return np.where(bad, fraud, legit)

    avg = rng.lognormal(np.log(45.0), 0.6, rows)
    ratio = pick(rng.lognormal(np.log(2.5), 1.0, rows), rng.lognormal(0.0, 0.5, rows))
    night = rng.random(rows) < pick(np.full(rows, 0.45), np.full(rows, 0.05))
    hour = np.where(night, rng.integers(0, 6, rows), np.round(rng.normal(14.0, 3.5, rows)))
    new_card = rng.random(rows) < pick(np.full(rows, 0.35), np.full(rows, 0.05))
    card_age = np.where(new_card, rng.exponential(20.0, rows), rng.exponential(700.0, rows))
    foreign = rng.random(rows) < pick(np.full(rows, 0.3), np.full(rows, 0.06))
    distance = np.where(foreign, rng.lognormal(np.log(1200.0), 0.7, rows),
                        pick(rng.lognormal(np.log(60.0), 1.3, rows),
                             rng.lognormal(np.log(8.0), 1.1, rows)))
    X = np.column_stack([
        np.round(np.maximum(avg * ratio, 0.5), 2),                                # amount
        np.clip(hour, 0, 23),                                                     # hour
        np.round(pick(rng.beta(3.0, 3.0, rows), rng.beta(1.5, 6.0, rows)), 3),    # merchant_risk
        np.floor(card_age),                                                       # card_age_days
        np.round(distance, 1),                                                    # distance_km
        pick(rng.poisson(1.8, rows), rng.poisson(0.4, rows)),                     # txn_last_hour
        np.round(avg, 2),                                                         # avg_amount_30d
        foreign,                                                                  # foreign
    ]).astype(np.float64)
    return Dataset(list(FRAUD_FEATURES), X, y)


def fraud() -> Dataset:
    """The fraud model's training data: 20,000 :func:`fraud_transactions` (seed 7)."""
    return fraud_transactions(20_000, seed=7)


#: The string columns of :func:`fraud_mixed_transactions`, with the values each takes.
FRAUD_CATEGORICALS: dict[str, tuple[str, ...]] = {
    "country": ("US", "GB", "FR", "DE", "ES", "BR", "NG", "IN"),
    "category": ("grocery", "fuel", "fashion", "travel", "electronics", "gaming"),
    "channel": ("pos", "online", "atm"),
}
#: Its number columns, in their real units.
FRAUD_NUMBERS = ("amount", "hour", "card_age_days")


def fraud_mixed_transactions(rows: int, seed: int) -> Dataset:
    """Synthetic card transactions with string categoricals beside numbers: the merchant's
    country, category and channel (fraud leans to a few countries, to electronics and
    gaming, to online), the amount, the hour (fraud leans to the night) and the card's age
    in days; ``FRAUD_RATE`` * 4 of them fraudulent. ``X`` is an object array: strings and
    floats, columns in ``features`` order."""
    rng = np.random.default_rng(seed)
    y = (rng.random(rows) < FRAUD_RATE * 4).astype(np.int64)
    bad = y == 1
    leans = {"country": (0.08, 0.08, 0.1, 0.1, 0.1, 0.14, 0.2, 0.2),
             "category": (0.04, 0.04, 0.12, 0.2, 0.3, 0.3),
             "channel": (0.1, 0.8, 0.1)}
    columns: list[np.ndarray] = []
    for name, values in FRAUD_CATEGORICALS.items():
        usual = np.full(len(values), 1.0 / len(values))
        legit = rng.choice(np.array(values, dtype=object), rows, p=usual)
        fraud = rng.choice(np.array(values, dtype=object), rows, p=np.array(leans[name]))
        columns.append(np.where(bad, fraud, legit))
    amount = np.where(bad, rng.lognormal(np.log(180.0), 0.9, rows),
                      rng.lognormal(np.log(45.0), 0.7, rows))
    night = rng.random(rows) < np.where(bad, 0.5, 0.06)
    hour = np.where(night, rng.integers(0, 6, rows),
                    np.clip(np.round(rng.normal(14.0, 3.5, rows)), 6, 23))
    card_age = np.floor(np.where(bad, rng.exponential(60.0, rows),
                                 rng.exponential(700.0, rows)))
    columns += [np.round(amount, 2), hour.astype(np.float64), card_age]
    X = np.empty((rows, len(columns)), dtype=object)
    for i, column in enumerate(columns):
        X[:, i] = column.tolist()
    return Dataset([*FRAUD_CATEGORICALS, *FRAUD_NUMBERS], X, y)


def fraud_mixed() -> Dataset:
    """The mixed fraud model's training data: 8,000 mixed transactions (seed 19)."""
    return fraud_mixed_transactions(8_000, seed=19)


def digits() -> Dataset:
    """8x8 images of handwritten digits: 64 pixel features (0-16), 10 classes."""
    from sklearn.datasets import load_digits

    data = load_digits()
    return Dataset([_field(n) for n in data.feature_names], data.data, data.target)


def digits_split(held_out: bool) -> Dataset:
    """The training part (75%) or the held-out part (25%) of :func:`digits` (fixed seed)."""
    from sklearn.model_selection import train_test_split

    data = digits()
    parts = train_test_split(data.X, data.y, test_size=0.25, random_state=11, stratify=data.y)
    X, y = (parts[1], parts[3]) if held_out else (parts[0], parts[2])
    return Dataset(data.features, X, y)


def train_breast_cancer() -> bytes:
    """Scaled logistic regression: outputs ``label`` and ``probabilities``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    data = breast_cancer()
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    pipe.fit(data.X, data.y)
    return export_onnx(pipe, data.X)


def train_fraud() -> bytes:
    """A scikit-learn MLP on the synthetic transactions in their real units, the scaler
    inside the pipeline (so the ONNX file takes raw events), converted by skl2onnx."""
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    data = fraud()
    pipe = make_pipeline(
        StandardScaler(), MLPClassifier(hidden_layer_sizes=(32, 16), max_iter=300, random_state=7)
    )
    pipe.fit(data.X, data.y)
    return export_onnx(pipe, data.X)


def fraud_mixed_pipeline(C: float = 1.0) -> Any:
    """The mixed fraud model, unfitted, over a DataFrame: one-hot strings (unknown values
    ignored) and scaled numbers (a ColumnTransformer), then a logistic regression."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    return make_pipeline(
        ColumnTransformer([
            ("categories", OneHotEncoder(handle_unknown="ignore"), list(FRAUD_CATEGORICALS)),
            ("numbers", StandardScaler(), list(FRAUD_NUMBERS)),
        ]),
        LogisticRegression(max_iter=1000, C=C),
    )


def fit_fraud_mixed(X: Any, y: np.ndarray, **params: Any) -> Any:
    """:func:`fraud_mixed_pipeline` (``params``: its ``C``) fitted on a DataFrame, a column
    per input: a ``retrain.estimator.function`` (docs/inputs.md)."""
    return fraud_mixed_pipeline(**params).fit(X, y)


def train_fraud_mixed() -> bytes:
    """:func:`fraud_mixed_pipeline` on :func:`fraud_mixed`, exported by skl2onnx with one
    input per column (strings as tensor(string) [n, 1], numbers as float [n, 1]): outputs
    ``label`` and ``probabilities``."""
    import pandas as pd

    from streaminfer.operators.inputs import InputSignature
    from streaminfer.pipelines.lifecycle.trainers import export_typed

    data = fraud_mixed()
    frame = pd.DataFrame({name: data.X[:, i] for i, name in enumerate(data.features)})
    for name in FRAUD_NUMBERS:
        frame[name] = frame[name].astype(np.float32)
    pipe = fit_fraud_mixed(frame, data.y)
    signature = [InputSignature(name, "string", (None, 1)) for name in FRAUD_CATEGORICALS]
    signature += [InputSignature(name, "float", (None, 1)) for name in FRAUD_NUMBERS]
    return export_typed(pipe, signature)


def train_digits_mlp() -> bytes:
    """A wide scikit-learn MLP (64 -> 512 -> 256 -> 10) on the training part of the digits,
    so that the model, not Kafka, dominates a micro-batch: outputs ``label``, ``probabilities``."""
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    data = digits_split(held_out=False)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(
        hidden_layer_sizes=(512, 256), max_iter=200, random_state=5))
    pipe.fit(data.X, data.y)
    return export_onnx(pipe, data.X)


def train_diabetes() -> bytes:
    """Ridge regression: one output, ``variable`` ([batch, 1])."""
    from sklearn.linear_model import Ridge

    data = diabetes()
    return export_onnx(Ridge(alpha=0.1).fit(data.X, data.y), data.X)


def train_wine_mlp() -> bytes:
    """An MLP trained with scikit-learn, written as a graph with the ONNX helper API:
    standardize -> Gemm -> Relu -> Gemm -> Softmax, plus ArgMax for the label."""
    from onnx import TensorProto, helper, numpy_helper
    from sklearn.neural_network import MLPClassifier

    data = wine()
    mean, std = data.X.mean(axis=0), data.X.std(axis=0)
    mlp = MLPClassifier(hidden_layer_sizes=(16,), max_iter=2000, random_state=3)
    mlp.fit((data.X - mean) / std, data.y)
    width, classes = data.X.shape[1], len(mlp.classes_)

    def const(name: str, value: np.ndarray) -> Any:
        return numpy_helper.from_array(value.astype(np.float32), name)

    nodes = [
        helper.make_node("Sub", ["features", "mean"], ["centered"]),
        helper.make_node("Div", ["centered", "std"], ["scaled"]),
        helper.make_node("Gemm", ["scaled", "w1", "b1"], ["h1"]),
        helper.make_node("Relu", ["h1"], ["a1"]),
        helper.make_node("Gemm", ["a1", "w2", "b2"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        helper.make_node("ArgMax", ["logits"], ["label"], axis=1, keepdims=0),
    ]
    graph = helper.make_graph(
        nodes, "wine_mlp",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", width])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", classes]),
         helper.make_tensor_value_info("label", TensorProto.INT64, ["batch"])],
        initializer=[
            const("mean", mean), const("std", std),
            const("w1", mlp.coefs_[0]), const("b1", mlp.intercepts_[0]),
            const("w2", mlp.coefs_[1]), const("b2", mlp.intercepts_[1]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


@dataclass(frozen=True)
class Example:
    """One example model: how to train it and the data it was trained on."""

    train: Callable[[], bytes]
    dataset: Callable[[], Dataset]
    held_out: Callable[[], Dataset] | None = None  # rows the model was not trained on
    #: Whether build writes a drift profile.
    profiled: bool = True
    #: Fed by ``model.inputs`` (one input per dataset feature) or, with ``beside``, by a
    #: tokenizer of the dataset's one text column: its profile bins inputs.
    typed: bool = False
    #: Writes files the model needs beside it (its tokenizer.json), given the model's path.
    beside: Callable[[Path, bool], Path] | None = None
    picture: Callable[[], PictureConfig] | None = None  # how its inputs decode pictures


EXAMPLES: dict[str, Example] = {
    "breast_cancer": Example(train_breast_cancer, breast_cancer),
    "fraud": Example(train_fraud, fraud),
    "diabetes": Example(train_diabetes, diabetes),
    "wine_mlp": Example(train_wine_mlp, wine),
    "digits_mlp": Example(train_digits_mlp, digits, lambda: digits_split(held_out=True)),
    "fraud_mixed": Example(train_fraud_mixed, fraud_mixed, typed=True),
}


def write_model(data: bytes, path: Path) -> Path:
    """Write ``path`` and ``path.sha256`` (checked by the pipeline before it loads the model)."""
    return write_model_file(data, path)


def build(name: str, out_dir: Path, *, force: bool = False) -> Path:
    """Train and export one example model, and its training profile, unless there."""
    from streaminfer.operators.profile import profile_path

    path = out_dir / f"{name}.onnx"
    if force or not path.exists():
        write_model(EXAMPLES[name].train(), path)
    if EXAMPLES[name].profiled and (force or not profile_path(path).exists()):
        from streaminfer.pipelines.devtools.example_profiles import write_profile

        write_profile(name, EXAMPLES[name], path)
    beside = EXAMPLES[name].beside
    if beside is not None:
        beside(path, force)
    return path


def write_validation(name: str, out_dir: Path, *, force: bool = False) -> Path | None:
    """Write an example's held-out rows to ``<name>.validation.parquet`` unless there."""
    held_out = EXAMPLES[name].held_out
    path = out_dir / f"{name}.validation.parquet"
    if held_out is None or (path.exists() and not force):
        return None if held_out is None else path  # none, or there already
    import pyarrow as pa
    from pyarrow import parquet

    data = held_out()
    columns = {f: data.X[:, i].astype(np.float32) for i, f in enumerate(data.features)}
    tmp = path.with_suffix(".tmp")  # whole or not there, as the model files
    parquet.write_table(pa.table({**columns, "label": data.y}), tmp)
    return tmp.replace(path)


def build_all(out_dir: Path, *, force: bool = False) -> list[Path]:
    built = [build(name, out_dir, force=force) for name in EXAMPLES]
    for name in EXAMPLES:
        write_validation(name, out_dir, force=force)
    return built


def text_tokens() -> Dataset:
    """The token-id example's training tickets: one ``text`` column."""
    from streaminfer.pipelines.devtools.example_tokens import training_tickets

    texts, y = training_tickets()
    X = np.empty((len(texts), 1), dtype=object)
    X[:, 0] = texts
    return Dataset(["text"], X, y)


def train_text_tokens() -> bytes:
    """The token-id example: an embedding bag (``example_tokens.py``)."""
    from streaminfer.pipelines.devtools.example_tokens import train_text_tokens as train

    return train()


def write_text_tokenizer(model_path: Path, force: bool = False) -> Path:
    """The token-id example's tokenizer.json, beside its model."""
    from streaminfer.pipelines.devtools.example_tokens import write_text_tokenizer as write

    return write(model_path, force)


EXAMPLES["text_tokens"] = Example(train_text_tokens, text_tokens, typed=True,
                                  beside=write_text_tokenizer)


def support_messages() -> Dataset:
    """The text classifier's 400 support messages (``example_text.py``)."""
    from streaminfer.pipelines.devtools.example_text import support_messages as read

    X, y = read()
    return Dataset(["text"], X, y)


def train_text_classifier() -> bytes:
    """The text classifier: TF-IDF and a logistic regression (``example_text.py``)."""
    from streaminfer.pipelines.devtools.example_text import train_text_classifier as train

    return train()


def apples_oranges() -> Dataset:
    """The picture example's training pictures: one ``image`` column of base64 PNGs."""
    from streaminfer.pipelines.devtools.example_pictures import png_base64, training_pictures

    pictures, y = training_pictures()
    X = np.empty((len(pictures), 1), dtype=object)
    X[:, 0] = [png_base64(p) for p in pictures]
    return Dataset(["image"], X, y)


def train_apples_oranges() -> bytes:
    """The picture example: a small CNN trained with numpy, shipped (``example_pictures.py``)."""
    from streaminfer.pipelines.devtools.example_pictures import shipped_apples_oranges

    return shipped_apples_oranges()


def apples_oranges_pictures() -> PictureConfig:
    """How the picture example decodes its pictures (as ``configs/pictures.yaml``)."""
    from streaminfer.pipelines.devtools.example_pictures import picture_config as config

    return config()


EXAMPLES["text_classifier"] = Example(train_text_classifier, support_messages, typed=True)

EXAMPLES["apples_oranges"] = Example(train_apples_oranges, apples_oranges, typed=True,
                                     picture=apples_oranges_pictures)
