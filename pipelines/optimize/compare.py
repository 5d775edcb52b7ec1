"""Pure comparison logic: metric loss against the original, the tolerance, the Pareto front
of speed against quality, and the fastest accepted variant if it beats the original by more
than the timing's noise.

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
#: The least speed-up a variant must show over the original to be chosen (more where the
#: timing's measured spread is larger): below it, a shared machine's noise could be the gain.
MIN_GAIN = 0.05


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


def choose(speeds: Mapping[str, float], allowed: set[str], original: str,
           spreads: Mapping[str, float] | None = None, min_gain: float = MIN_GAIN,
           ) -> tuple[str | None, str]:
    """The fastest allowed variant if its speed-up over ``original`` is more than the margin,
    the larger of ``min_gain`` and the two timings' ``spreads`` (relative), else ``None``;
    and why, in words.

    >>> choose({"original": 100.0, "int8": 103.0}, {"int8"}, "original")[0] is None
    True
    >>> choose({"original": 100.0, "int8": 130.0}, {"int8"}, "original", {"int8": 0.08})[0]
    'int8'
    """
    best = fastest(speeds, allowed)
    base = speeds.get(original)
    if best is None:
        return None, "no accepted variant was timed; the original is kept"
    if not base:
        return None, "the original's speed was not measured; the original is kept"
    gain = speeds[best] / base - 1
    noise = spreads or {}
    margin = max(min_gain, noise.get(best, 0.0), noise.get(original, 0.0))
    said = (f"{best}, the fastest accepted variant, is {abs(gain):.1%} "
            f"{'faster' if gain >= 0 else 'slower'} than the original")
    if gain > margin:
        return best, f"{said}: more than the {margin:.1%} margin (timing noise)"
    return None, f"{said}: not more than the {margin:.1%} margin (timing noise); the " \
        "original is kept"
