"""The training profile of a model fed by ``model.inputs``: bins per input, read from the
feed by the input's name.

A numeric input (one value a row) is binned as a feature is (:func:`numeric_bins`); a
string input is a category when its :data:`TOP_CATEGORIES` most frequent training values
cover at least :data:`CATEGORY_COVERAGE` of the rows, and gets one bin per such category
plus one for anything else (:func:`top_category_bins`); any other string input is free text,
and inputs of several values a row (token ids, arrays) are not binned: for those only the
prediction drifts. ``extra`` records which inputs were left out and why.

>>> import numpy as np
>>> feed = {"country": np.array([["FR"], ["FR"], ["DE"], ["US"]], dtype=object),
...         "amount": np.array([[1.0], [2.0], [3.0], [4.0]], dtype=np.float32)}
>>> p = build_input_profile(feed, {"label": np.array([0, 1, 0, 0])})
>>> [(b.name, b.kind) for b in p.features], p.extra["feed"]
([('country', 'categorical'), ('amount', 'numeric')], 'inputs')
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from streaminfer.operators.model_runner import ModelInfo
from streaminfer.operators.profile import (
    BINS,
    Bins,
    Profile,
    numeric_bins,
    output_columns,
    plain,
    prediction_bins,
    with_shares,
)

#: Categories a string input keeps (the most frequent in training); the rest share one bin.
TOP_CATEGORIES = 20
#: The share of training rows the kept categories must cover for a string input to be a
#: category; below it the input is free text (messages, names) and is not binned.
CATEGORY_COVERAGE = 0.8
#: ``Profile.extra["feed"]`` of a profile whose bins read a feed by input name.
INPUTS_FEED = "inputs"


def top_category_bins(name: str, values: Sequence[Any] | np.ndarray,
                      top: int = TOP_CATEGORIES) -> Bins:
    """One bin per each of the ``top`` most frequent values (ties: by their text), then
    one for anything else, with the training shares.

    >>> b = top_category_bins("c", ["a", "b", "a", "c", "a", "b"], top=2)
    >>> b.categories, [round(s, 3) for s in b.expected]
    (('a', 'b'), [0.5, 0.333, 0.167])
    """
    tally = Counter(plain(v) for v in np.asarray(values, dtype=object).tolist())
    kept = sorted(tally, key=lambda v: (-tally[v], str(v)))[:top]
    draft = Bins(name, "categorical", (0.0,) * (len(kept) + 1), categories=tuple(kept))
    return with_shares(draft, np.asarray(values, dtype=object))


def is_category(values: Sequence[Any] | np.ndarray, top: int = TOP_CATEGORIES,
                coverage: float = CATEGORY_COVERAGE) -> bool:
    """Whether the ``top`` most frequent values cover ``coverage`` of the rows.

    >>> is_category(["FR", "DE"] * 50), is_category([f"message {i}" for i in range(100)])
    (True, False)
    """
    tally = Counter(np.asarray(values, dtype=object).tolist())
    total = sum(tally.values())
    return total > 0 and sum(n for _, n in tally.most_common(top)) >= coverage * total


def one_per_row(array: np.ndarray) -> np.ndarray | None:
    """An input's values as one per row (``[n]`` or ``[n, 1]``); ``None`` for several."""
    array = np.asarray(array)
    if array.ndim == 1:
        return array
    if array.ndim == 2 and array.shape[1] == 1:
        return array[:, 0]
    return None


def build_input_profile(
    feed: Mapping[str, np.ndarray],
    outputs: Mapping[str, Any] | Sequence[Mapping[str, Any]], *,
    bins: int = BINS, model_sha256: str | None = None,
) -> Profile:
    """The profile of a model from its training feed (input name -> tensor, as the feed
    builder makes it) and its outputs on it."""
    features, text, wide = [], [], []
    rows = 0
    for name, array in feed.items():
        rows = len(array)
        values = one_per_row(array)
        if values is None:
            wide.append(name)
        elif values.dtype.kind in "OUS":
            if is_category(values):
                features.append(top_category_bins(name, values))
            else:
                text.append(name)
        else:
            features.append(numeric_bins(name, values.astype(np.float64), bins))
    return Profile(tuple(features), prediction_bins(output_columns(outputs), bins), rows=rows,
                   model_sha256=model_sha256,
                   extra={"feed": INPUTS_FEED, "free_text": text, "several_values": wide})


def input_mismatch(profile: Profile, info: ModelInfo) -> str | None:
    """Why a profile does not fit how the model is fed (``model.inputs`` or feature
    columns), or ``None`` when it fits."""
    by_inputs = profile.extra.get("feed") == INPUTS_FEED
    if by_inputs != (info.bindings is not None):
        return ("profiles the inputs of a model fed by model.inputs" if by_inputs else
                "profiles feature columns; this model is fed by model.inputs")
    if by_inputs:
        names = {s.name for s in info.inputs}
        unknown = [n for n in profile.feature_names if n not in names]
        if unknown:
            return f"bins input(s) {', '.join(unknown)} the model does not have"
    return None
