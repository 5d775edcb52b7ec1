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

from streaminfer.pipelines.lifecycle.rollback_rule import Live, Verdict, compared
from streaminfer.pipelines.spec.rollout_spec import PromoteRuleSpec


def promote_verdict(rule: PromoteRuleSpec, model: str, champion: str, shadow: str,
                    live: Live, *, mode: str = "shadow") -> Verdict | None:
    """A verdict when model ``model``'s ``shadow`` beats its ``champion`` by ``min_gain``
    or more, each over at least ``min_examples`` labelled examples; else ``None``.
    ``mode``: how the candidate runs (``shadow`` or ``canary``: a canary's live metrics
    come from the events it answers), for the message.
    ``Verdict.value`` is the shadow's metric, ``baseline`` the champion's."""
    pair = compared(live, rule.metric, rule.min_examples, (model, shadow), (model, champion))
    if pair is None or pair.gain < rule.min_gain:
        return None
    return Verdict(pair.value, pair.baseline, (
        f"live {rule.metric} of {model} {mode} version {shadow} is {pair.value:.4f} over "
        f"{pair.examples:.0f} labelled examples, {pair.gain:.4f} better than champion "
        f"version {champion} ({pair.baseline:.4f} over {pair.baseline_examples:.0f}); the "
        f"rule asks {rule.min_gain:g}"))
