"""Drift against a training profile: bin counts of live rows, PSI, and a crossing detector.

Pure and cheap: a worker adds the bin counts of each scored batch (:func:`count_batch`,
numpy), the driver merges the counts of its workers over a sliding window
(:class:`SlidingCounts`), computes PSI per feature and for the prediction (:func:`psi_all`)
and asks a :class:`Crossing` per metric whether to alert: once when the value rises above
the threshold, and again only after it fell back below ``rearm_below``.

>>> round(psi([0.5, 0.5], np.array([50, 50])), 6)
0.0
>>> round(psi([0.5, 0.5], np.array([90, 10])), 4)
0.8789
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from streaminfer.operators.input_profile import one_per_row
from streaminfer.operators.inputs import Feed, feed_rows
from streaminfer.operators.profile import Profile

log = logging.getLogger(__name__)

#: Shares below this count as this in PSI (an empty bin would make it infinite).
EPSILON = 1e-4
PREDICTION = "prediction"


def psi(expected: Sequence[float], actual: np.ndarray, eps: float = EPSILON) -> float:
    """Population stability index of ``actual`` counts against ``expected`` shares:
    ``sum((a - e) * ln(a / e))`` over the bins, shares clipped below at ``eps``. NaN when
    ``actual`` is empty."""
    counts = np.asarray(actual, dtype=np.float64)
    total = counts.sum()
    if total <= 0:
        return math.nan
    e = np.clip(np.asarray(expected, dtype=np.float64), eps, None)
    a = np.clip(counts / total, eps, None)
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass
class BinCounts:
    """Rows counted per bin: one array per feature (in profile order) and the prediction's."""

    rows: int
    features: list[np.ndarray]
    prediction: np.ndarray | None = None

    @classmethod
    def empty(cls, profile: Profile) -> BinCounts:
        return cls(0, [np.zeros(b.size, np.int64) for b in profile.features],
                   None if profile.prediction is None
                   else np.zeros(profile.prediction.size, np.int64))

    def add(self, other: BinCounts) -> None:
        """Add ``other``'s counts to these (same profile)."""
        self.rows += other.rows
        for mine, theirs in zip(self.features, other.features, strict=True):
            mine += theirs
        if self.prediction is not None and other.prediction is not None:
            self.prediction += other.prediction

    def minus(self, before: BinCounts) -> BinCounts:
        """The counts added since ``before`` (an earlier reading of the same counter)."""
        return BinCounts(
            self.rows - before.rows,
            [now - then for now, then in zip(self.features, before.features, strict=True)],
            None if self.prediction is None or before.prediction is None
            else self.prediction - before.prediction)

    def copy(self) -> BinCounts:
        return BinCounts(self.rows, [f.copy() for f in self.features],
                         None if self.prediction is None else self.prediction.copy())

    def fits(self, profile: Profile) -> bool:
        """Whether these counts have the profile's shape."""
        return len(self.features) == len(profile.features) and all(
            len(c) == b.size for c, b in zip(self.features, profile.features, strict=True))


def count_batch(
    profile: Profile, X: Feed, outputs: Sequence[Mapping[str, Any]],
) -> BinCounts:
    """Bin counts of one scored batch: feature rows ``X`` (profile order), or the feed of a
    model fed by ``model.inputs`` (each bin reads the input of its name), and their
    outputs."""
    if isinstance(X, dict):
        features = [b.counts(_one_per_row(X[b.name], b.name)) for b in profile.features]
    else:
        columns = np.ascontiguousarray(np.asarray(X).T)  # one contiguous row per feature
        features = [b.counts(columns[i]) for i, b in enumerate(profile.features)]
    prediction = None
    if profile.prediction is not None:
        prediction = profile.prediction.counts(profile.prediction.values(outputs))
    return BinCounts(feed_rows(X), features, prediction)


def _one_per_row(array: np.ndarray, name: str) -> np.ndarray:
    values = one_per_row(array)
    if values is None:
        raise ValueError(f"input {name} has {array.shape[1:]} values a row; its profile "
                         "bins one")
    return values


def delta(now: BinCounts, before: BinCounts | None) -> BinCounts:
    """What a cumulative counter added since ``before``; a counter that went back (its
    worker restarted) counts from zero."""
    if before is None or now.rows < before.rows:
        return now.copy()
    return now.minus(before)


def psi_all(profile: Profile, counts: BinCounts) -> dict[str, float]:
    """PSI per feature (by name) and for the prediction (:data:`PREDICTION`)."""
    out = {b.name: psi(b.expected, c)
           for b, c in zip(profile.features, counts.features, strict=True)}
    if profile.prediction is not None and counts.prediction is not None:
        out[PREDICTION] = psi(profile.prediction.expected, counts.prediction)
    return out


@dataclass
class Crossing:
    """Fires once when a value goes above ``threshold``; re-arms only once a value is below
    ``threshold * rearm_below`` (hysteresis: a value hovering at the line alerts once)."""

    threshold: float
    rearm_below: float = 1.0
    fired: bool = False

    def update(self, value: float) -> bool:
        """Whether this value is a new crossing (NaN changes nothing)."""
        if math.isnan(value):
            return False
        if self.fired:
            if value < self.threshold * self.rearm_below:
                self.fired = False
            return False
        if value > self.threshold:
            self.fired = True
            return True
        return False


@dataclass
class SlidingCounts:
    """Counts of the last ``window_s`` seconds, kept in one-``bucket_s`` buckets, with a
    running total (adding and expiring a bucket costs one pass over its bins)."""

    window_s: float
    bucket_s: float = 1.0
    _buckets: deque[tuple[float, BinCounts]] = field(default_factory=deque)
    _total: BinCounts | None = None

    def add(self, now: float, counts: BinCounts) -> None:
        start = math.floor(now / self.bucket_s) * self.bucket_s
        if self._buckets and self._buckets[-1][0] == start:
            self._buckets[-1][1].add(counts)
        else:
            self._buckets.append((start, counts.copy()))
        if self._total is None:
            self._total = counts.copy()
        else:
            self._total.add(counts)

    def total(self, now: float) -> BinCounts | None:
        """The window's counts (``None`` when it holds no bucket)."""
        while self._buckets and self._buckets[0][0] + self.bucket_s <= now - self.window_s:
            _, expired = self._buckets.popleft()
            assert self._total is not None
            self._total = self._total.minus(expired)
        if not self._buckets:
            self._total = None
        return None if self._total is None else self._total.copy()


class DriftTally:
    """A worker's running bin counts per (model, version), for the models with a profile.

    A batch that cannot be counted (outputs unlike the profile's) is skipped, never raised:
    drift must not stop scoring. ``failed`` counts them per (model, version); the first of
    each is logged at WARNING."""

    def __init__(self, profiles: Mapping[str, Profile]) -> None:
        self.profiles = dict(profiles)
        self._counts: dict[tuple[str, str], BinCounts] = {}
        self.failed: dict[tuple[str, str], int] = {}

    def add(self, model: str, version: str, X: Feed,
            outputs: Sequence[Mapping[str, Any]]) -> None:
        """Count one batch a model scored, its feature rows or its feed (a model without a
        profile is skipped): :meth:`count` then :meth:`merge`."""
        counts = self.count(model, version, X, outputs)
        if counts is not None:
            self.merge(model, version, counts)

    def count(self, model: str, version: str, X: Feed,
              outputs: Sequence[Mapping[str, Any]]) -> BinCounts | None:
        """One batch's bin counts against the profile the model is counted against now
        (None: no profile, no rows, or outputs unlike the profile's); kept apart from the
        running counts until :meth:`merge` (a worker merges a batch once it is delivered,
        maybe after a swap has changed the profile)."""
        profile = self.profiles.get(model)
        if profile is None or feed_rows(X) == 0:
            return None
        try:
            return count_batch(profile, X, outputs)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            key = (model, version)
            self.failed[key] = self.failed.get(key, 0) + 1
            if self.failed[key] == 1:
                log.warning("drift: model %s version %s: a batch's outputs cannot be counted "
                            "against the training profile (%s: %s); drift skips such batches, "
                            "scoring goes on", model, version, type(exc).__name__, exc)
            return None

    def merge(self, model: str, version: str, counts: BinCounts) -> None:
        """Add a batch's :meth:`count` to the running counts of (model, version)."""
        mine = self._counts.get((model, version))
        if mine is None:
            self._counts[(model, version)] = counts
        else:
            mine.add(counts)

    def use(self, model: str, profile: Profile | None) -> None:
        """Count ``model``'s batches against ``profile`` from now on (the version swapped
        in: its counts are kept apart by version); ``None``: do not count them."""
        if profile is None:
            self.profiles.pop(model, None)
        else:
            self.profiles[model] = profile

    def snapshot(self) -> dict[tuple[str, str], BinCounts]:
        """Copies of the running counts (cumulative since the worker started)."""
        return {key: counts.copy() for key, counts in self._counts.items()}
