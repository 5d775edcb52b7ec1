"""Pure comparison logic: metric loss against the original, the tolerance, the Pareto front
of speed against quality, and the fastest accepted variant.

>>> round(relative_loss(0.9733, 0.9711, direction=1), 4)
0.0023
>>> sorted(pareto_front({"a": (1.0, 0.97), "b": (2.0, 0.96), "c": (1.5, 0.95)}))
['a', 'b']
"""

from __future__ import annotations

import math
from collections.abc import Mapping

#: The metric each kind of model is judged by.
PRIMARY = {"classifier": "accuracy", "regressor": "rmse"}
DEFAULT_MAX_LOSS = 0.005


def relative_loss(original: float, variant: float, direction: int) -> float:
    """How much worse ``variant`` is than ``original``, as a share of the original
    (negative when it is better); ``direction`` is +1 where higher is better."""
    if math.isnan(original) or math.isnan(variant):
        return math.nan
    scale = abs(original) or 1.0
    return direction * (original - variant) / scale


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
