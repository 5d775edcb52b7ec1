"""Drift per feature for the report: PSI beside a chi-squared test, with the bins' shares.

The training profile keeps only each feature's bins (quantile edges, or categories) and the
share of training rows in each, so the test is on binned counts: a chi-squared test of
homogeneity of the 2 x bins table (training rows per bin, from the shares and the profile's
row count, against the data's rows per bin; bins empty in both left out; no continuity
correction). A KS test would need the training values, which the profile does not keep.
"""

from __future__ import annotations

import math
from itertools import pairwise
from typing import Any

import numpy as np
from scipy import stats  # type: ignore[import-untyped]

from streaminfer.operators.drift import PREDICTION, BinCounts, psi
from streaminfer.operators.profile import Bins, Profile

METHOD = ("chi-squared test of homogeneity on the profile's bins (training rows per bin "
          "from its shares and row count, against the data's)")


def chi2_homogeneity(reference: np.ndarray, current: np.ndarray,
                     ) -> tuple[float, int, float]:
    """``(statistic, degrees of freedom, p-value)`` of two samples' counts per bin; NaN
    when either sample is empty or fewer than two bins hold rows."""
    table = np.vstack([np.asarray(reference, np.float64), np.asarray(current, np.float64)])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or np.any(table.sum(axis=1) == 0):
        return (math.nan, 0, math.nan)
    statistic, p_value, dof, _ = stats.chi2_contingency(table, correction=False)
    return (float(statistic), int(dof), float(p_value))


def bin_labels(bins: Bins) -> list[str]:
    """Each bin in words: ``<= 1.2``, ``1.2 to 3.4``, ``> 5.6``; categories, then
    ``other``."""
    if bins.kind == "categorical":
        return [str(c) for c in bins.categories] + ["other"]
    edges = [f"{e:.3g}" for e in bins.edges]
    if not edges:
        return ["all"]
    return ([f"<= {edges[0]}"] + [f"{a} to {b}" for a, b in pairwise(edges)]
            + [f"> {edges[-1]}"])


def drift_table(profile: Profile, counts: BinCounts) -> list[dict[str, Any]]:
    """One entry per feature (and the prediction): PSI, the test, and both samples' shares
    per bin; sorted by PSI, highest first (NaN last)."""
    pairs: list[tuple[Bins, np.ndarray]] = list(zip(profile.features, counts.features,
                                                    strict=True))
    if profile.prediction is not None and counts.prediction is not None:
        pairs.append((profile.prediction, counts.prediction))
    rows = []
    for bins, current in pairs:
        reference = np.rint(np.asarray(bins.expected) * profile.rows)
        statistic, dof, p_value = chi2_homogeneity(reference, current)
        total = current.sum()
        rows.append({
            "feature": PREDICTION if bins is profile.prediction else bins.name,
            "kind": bins.kind, "psi": psi(bins.expected, current),
            "chi2": statistic, "dof": dof, "p_value": p_value, "bins": bin_labels(bins),
            "reference_share": list(bins.expected),
            "current_share": (current / total).tolist() if total else [0.0] * len(current),
            "current_rows": int(total)})
    return sorted(rows, key=lambda r: -r["psi"] if r["psi"] == r["psi"] else math.inf)
