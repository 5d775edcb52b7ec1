"""The automatic rollback rule: a pure function of the live metrics per model version.

>>> from streaminfer.pipelines.spec.rollout_spec import RollbackRuleSpec
>>> rule = RollbackRuleSpec(metric="accuracy", max_drop=0.05, min_examples=100)
>>> live = {("bc", "2"): {"accuracy": 0.70, "examples": 150},
...         ("bc", "1"): {"accuracy": 0.93, "examples": 400}}
>>> verdict = rollback_verdict(rule, "bc", "2", "1", live)
>>> print(verdict.message)  # doctest: +NORMALIZE_WHITESPACE
live accuracy of bc version 2 is 0.7000 over 150 labelled examples, 0.2300 worse than
version 1 (0.9300 over 400); the rule allows 0.05
>>> few = {**live, ("bc", "2"): {"accuracy": 0.70, "examples": 20}}
>>> rollback_verdict(rule, "bc", "2", "1", few) is None
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from streaminfer.operators.metric_table import gain
from streaminfer.pipelines.spec.rollout_spec import RollbackRuleSpec

Live = Mapping[tuple[str, str], Mapping[str, float]]


@dataclass(frozen=True)
class Verdict:
    """Roll back: the new champion's value, the previous one's, and why."""

    value: float
    baseline: float
    message: str


def rollback_verdict(rule: RollbackRuleSpec, model: str, champion: str, previous: str,
                     live: Live) -> Verdict | None:
    """A verdict when model ``model``'s ``champion`` is worse than ``previous`` by more than
    the rule allows, each over at least ``min_examples`` labelled examples; else ``None``."""
    pair = compared(live, rule.metric, rule.min_examples, (model, champion), (model, previous))
    if pair is None:
        return None
    worse_by = -pair.gain
    if worse_by <= rule.max_drop:
        return None
    return Verdict(pair.value, pair.baseline, (
        f"live {rule.metric} of {model} version {champion} is {pair.value:.4f} over "
        f"{pair.examples:.0f} labelled examples, {worse_by:.4f} worse than version "
        f"{previous} ({pair.baseline:.4f} over {pair.baseline_examples:.0f}); the rule "
        f"allows {rule.max_drop:g}"))


@dataclass(frozen=True)
class Compared:
    """One version's live metric against another's, both over enough examples."""

    value: float
    baseline: float
    examples: float
    baseline_examples: float
    gain: float  # how much better ``value`` is, in the metric's direction (metric table)


def compared(live: Live, metric: str, min_examples: int, new: tuple[str, str],
             old: tuple[str, str]) -> Compared | None:
    """Version ``new``'s live ``metric`` against ``old``'s, or ``None`` while either has
    fewer than ``min_examples`` labelled examples or no value."""
    mine, theirs = live.get(new), live.get(old)
    if mine is None or theirs is None:
        return None
    if min(mine.get("examples", 0), theirs.get("examples", 0)) < min_examples:
        return None
    value, baseline = mine.get(metric, math.nan), theirs.get(metric, math.nan)
    if math.isnan(value) or math.isnan(baseline):
        return None
    return Compared(value, baseline, mine["examples"], theirs["examples"],
                    gain(metric, value, baseline))


def remember(known: dict[tuple[str, str], Mapping[str, float]], live: Live,
             min_examples: int) -> None:
    """Keep each version's latest live metrics over enough examples: a previous champion's
    stay comparable after its rows have left the live window."""
    for key, metrics in live.items():
        if metrics.get("examples", 0) >= min_examples:
            known[key] = dict(metrics)
