"""Retraining a model fed by ``model.inputs``: its labelled examples, read as events, go
through the feed builder of the model it replaces (the champion, else the model file), so
they are type-checked and refused as the pipeline would; the training rows become a pandas
DataFrame with one column per input, the holdout rows the feed both models are scored on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from streaminfer.errors import ConfigError
from streaminfer.operators.inputs import Feed, FeedBuilder, InputBinding, InputSignature
from streaminfer.operators.labelled_feed import feed_of, named_labels
from streaminfer.operators.labelled_rows import LabelledRows
from streaminfer.operators.model_runner import OnnxModel
from streaminfer.pipelines.lifecycle.examples import Examples
from streaminfer.pipelines.spec.schema import ModelSpec


@dataclass(frozen=True)
class Split:
    """What training and the holdout take: the training rows (a matrix, or a DataFrame of
    one column per input), the holdout's feed, their labels; for a typed model its inputs
    (``signature``, ``bindings``) and how many rows its feed refused."""

    X: Any
    y: np.ndarray
    X_hold: Feed
    y_hold: np.ndarray
    signature: tuple[InputSignature, ...] | None = None
    bindings: dict[str, InputBinding] | None = None
    refused: int = 0
    train_feed: dict[str, np.ndarray] | None = None  # the training rows' feed (typed)


def numeric_split(data: Examples, train_rows: np.ndarray, hold_rows: np.ndarray) -> Split:
    """The split of a model fed by ``source.features``: rows of the feature matrix."""
    return Split(data.X[train_rows], data.y[train_rows], data.X[hold_rows], data.y[hold_rows])


def check_retrainable(model: ModelSpec) -> dict[str, InputBinding]:
    """The bindings of a typed model retraining can fit (one field per input); else a
    ``ConfigError`` saying why not."""
    bindings = model.input_bindings()
    if model.tokenizer is not None or bindings is None:
        raise ConfigError(f"retrain: model {model.model_name} is fed by a tokenizer (token "
                          "ids); retraining makes scikit-learn pipelines over text or "
                          "columns: train it outside and register it")
    wide = [name for name, b in bindings.items() if b.field is None]
    if wide:
        raise ConfigError(f"retrain: model.inputs.{wide[0]} reads several values a row "
                          "('fields' or 'array_field'); retraining fits inputs of one field "
                          "each (a column per input)")
    return bindings


def typed_split(model: ModelSpec, reference: bytes, data: Examples,
                train_rows: np.ndarray, hold_rows: np.ndarray) -> Split:
    """The split of a model fed by ``model.inputs``, through the feed builder of
    ``reference`` (the model file being replaced); labels given as class names
    (``model.postprocess.classes``) become class indices."""
    bindings = check_retrainable(model)
    builder = OnnxModel(reference, name=model.model_name, inputs=bindings,
                        providers=("CPUExecutionProvider",)).info.feed_builder()
    assert builder is not None
    names = model.postprocess.classes if model.postprocess is not None else None
    rows = _rows(data, names)
    train_feed, train, refused_train = feed_of(builder, rows.take(train_rows.tolist()))
    hold_feed, hold, refused_hold = feed_of(builder, rows.take(hold_rows.tolist()))
    refused = sum(refused_train.values()) + sum(refused_hold.values())
    assert isinstance(train_feed, dict)
    return Split(training_frame(builder, train_feed), train.y, hold_feed, hold.y,
                 builder.signature, bindings, refused, train_feed)


def _rows(data: Examples, names: tuple[str, ...] | None) -> LabelledRows:
    import pyarrow as pa

    assert data.events is not None, "read the examples as events (examples_from_events)"
    y = data.y if names is None else named_labels(data.y, names)
    return LabelledRows((), data.X, y, pa.table({"row": pa.array(range(len(y)))}),
                        data.events)


def training_frame(builder: FeedBuilder, feed: Feed) -> Any:
    """The feed as a pandas DataFrame, one column per input (named as the input, in the
    tensor's dtype: float32 for a float input, objects for strings)."""
    import pandas as pd

    assert isinstance(feed, dict)
    return pd.DataFrame({sig.name: feed[sig.name].reshape(len(feed[sig.name]), -1)[:, 0]
                         for sig in builder.signature})
