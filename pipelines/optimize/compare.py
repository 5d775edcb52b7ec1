"""Pure comparison logic: metric loss against the original, the tolerance, the Pareto front
of speed against quality, and the fastest accepted variant.

Which way a metric is better, and which metric is primary: ``operators.metric_table``.

>>> round(relative_loss("accuracy", 0.9733, 0.9711), 4)
0.0023
>>> loss_words(-0.0003, "accuracy")
'gains 0.03% accuracy'
>>> sorted(pareto_front({"a": (1.0, 0.97), "b": (2.0, 0.96), "c": (1.5, 0.95)}))
['a', 'b']
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from streaminfer.operators.metric_table import METRICS, gain

DEFAULT_MAX_LOSS = 0.005


def relative_loss(metric: str, original: float, variant: float) -> float:
    """How much worse ``variant`` is than ``original`` on ``metric``, in its direction, as a
    share of the original (negative when it is better)."""
    if math.isnan(original) or math.isnan(variant):
        return math.nan
    scale = abs(original) or 1.0
    return -gain(metric, variant, original) / scale


def loss_words(loss: float, metric: str) -> str:
    """A relative loss in words: ``loses 0.50% rmse``, ``gains 0.03% accuracy``."""
    if math.isnan(loss):
        return f"{metric} not defined"
    return f"{'gains' if loss < 0 else 'loses'} {abs(loss):.2%} {metric}"


def tolerance_edge(metric: str, original: float, max_loss: float) -> float:
    """The worst value of ``metric`` a variant may reach and still be accepted.

    >>> tolerance_edge("rmse", 10.0, 0.05), tolerance_edge("accuracy", 0.9, 0.1)
    (10.5, 0.81)
    """
    return original - METRICS[metric].sign * max_loss * abs(original)


def oriented(metric: str, value: float) -> float:
    """``value`` oriented so that higher is better (the Pareto front's quality axis)."""
    return METRICS[metric].sign * value


def accepted(loss: float, max_loss: float) -> bool:
    """Within the tolerance (a NaN loss is not)."""
    return not math.isnan(loss) and loss <= max_loss


def pareto_front(points: Mapping[str, tuple[float, float]]) -> set[str]:
    """Names whose (speed, quality) no other point beats in both (higher is better in both)."""
    front = set()
    for name, (speed, good) in points.items():
        beaten = any(s >= speed and g >= good and (s > speed or g > good)
                     for other, (s, g) in points.items() if other != name)
        if not beaten:
            front.add(name)
    return front


def fastest(speeds: Mapping[str, float], allowed: set[str]) -> str | None:
    """The allowed name with the highest speed, if any."""
    candidates = [(speed, name) for name, speed in speeds.items() if name in allowed]
    return max(candidates)[1] if candidates else None
