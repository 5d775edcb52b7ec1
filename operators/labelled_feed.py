"""Labelled rows through a model's own feed builder (``model.inputs``), and labels given as
class names turned into class indices. Validation and retraining score labelled rows alike.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from streaminfer.errors import DataError
from streaminfer.operators.inputs import Feed, FeedBuilder, concat_feeds, feed_rows
from streaminfer.operators.labelled_rows import LabelledRows

#: Rows fed at a time (padded per batch, as the workers pad theirs).
BATCH = 4096


def feed_of(builder: FeedBuilder, data: LabelledRows,
            ) -> tuple[Feed, LabelledRows, dict[str, int]]:
    """The feed of the rows ``builder`` takes, those rows, and how many it refused by
    reason (as the pipeline would dead-letter them). Fed in batches of :data:`BATCH`, padded
    per batch as the workers pad theirs."""
    assert data.events is not None
    refused: Counter[str] = Counter()
    feeds: list[Feed] = []
    kept: list[int] = []
    for start in range(0, len(data.events), BATCH):
        chunk = data.events[start:start + BATCH]
        values, refusals = builder.rows(chunk)  # each input for the whole chunk at once
        refused.update(error.error_type for error in refusals.values())
        index = [i for i in range(start, start + len(chunk)) if i - start not in refusals]
        feed, rejected = builder.matrix(values)
        for error in rejected.values():
            refused[error.error_type] += 1
        kept += [i for k, i in enumerate(index) if k not in rejected]
        if feed_rows(feed):
            feeds.append(feed)
    if not kept:
        raise DataError("the model's inputs refused every row: " + ", ".join(
            f"{count} {reason}" for reason, count in refused.most_common()))
    return concat_feeds(feeds, builder.pad_values()), data.take(kept), dict(refused)


def named_labels(y: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """Labels given as the model's class names (``model.postprocess.classes``) as class
    indices; labels that are not names stay as they are.

    >>> named_labels(np.asarray(["fraud", "legit"]), ("legit", "fraud")).tolist()
    [1, 0]
    """
    values = y.tolist()
    if not any(isinstance(v, str) for v in values):
        return y
    unknown = sorted({v for v in values if isinstance(v, str) and v not in names})
    if unknown:
        raise DataError(f"labels {', '.join(map(repr, unknown[:5]))} are not among the "
                        f"model's classes ({', '.join(names)}: model.postprocess.classes)")
    return np.asarray([names.index(v) if isinstance(v, str) else v for v in values])
