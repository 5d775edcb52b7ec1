"""The automatic promotion rule: a pure function of the live metrics per model version.

The shadow scores a copy of every event; once its predictions are joined to labels it has
live metrics like the champion's. It is promoted when its metric is at least the
champion's plus ``min_gain`` (lower by ``min_gain`` where lower is better), each over at
least ``min_examples`` labelled examples.

>>> from streaminfer.pipelines.spec.rollout_spec import PromoteRuleSpec
>>> rule = PromoteRuleSpec(metric="accuracy", min_gain=0.02, min_examples=100)
>>> live = {("bc", "1"): {"accuracy": 0.70, "examples": 400},
...         ("bc", "2"): {"accuracy": 0.93, "examples": 150}}
>>> print(promote_verdict(rule, "bc", "1", "2", live).message)  # doctest: +NORMALIZE_WHITESPACE
live accuracy of bc shadow version 2 is 0.9300 over 150 labelled examples, 0.2300 better
than champion version 1 (0.7000 over 400); the rule asks 0.02
>>> promote_verdict(rule, "bc", "1", "2", {**live, ("bc", "2"): {"accuracy": 0.71,
...                                                   "examples": 150}}) is None
True
"""

from __future__ import annotations

import math

from streaminfer.pipelines.rollout.rollback_rule import LOWER_IS_BETTER, Live, Verdict
from streaminfer.pipelines.spec.rollout_spec import PromoteRuleSpec


def promote_verdict(rule: PromoteRuleSpec, model: str, champion: str, shadow: str,
                    live: Live, *, mode: str = "shadow") -> Verdict | None:
    """A verdict when model ``model``'s ``shadow`` beats its ``champion`` by ``min_gain``
    or more, each over at least ``min_examples`` labelled examples; else ``None``.
    ``mode``: how the candidate runs (``shadow`` or ``canary``: a canary's live metrics
    come from the events it answers), for the message.
    ``Verdict.value`` is the shadow's metric, ``baseline`` the champion's."""
    new, old = live.get((model, shadow)), live.get((model, champion))
    if new is None or old is None:
        return None
    if min(new.get("examples", 0), old.get("examples", 0)) < rule.min_examples:
        return None
    value, baseline = new.get(rule.metric, math.nan), old.get(rule.metric, math.nan)
    if math.isnan(value) or math.isnan(baseline):
        return None
    better_by = baseline - value if rule.metric in LOWER_IS_BETTER else value - baseline
    if better_by < rule.min_gain:
        return None
    return Verdict(value, baseline, (
        f"live {rule.metric} of {model} {mode} version {shadow} is {value:.4f} over "
        f"{new['examples']:.0f} labelled examples, {better_by:.4f} better than champion "
        f"version {champion} ({baseline:.4f} over {old['examples']:.0f}); the rule asks "
        f"{rule.min_gain:g}"))
