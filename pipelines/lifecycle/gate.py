"""The gate: does a candidate's holdout metrics meet the rules? A pure function.

Rules compare the candidate with the champion on the same holdout (``max_drop`` for a
metric where higher is better, ``max_increase`` where lower is: ``operators.metric_table``)
or with a fixed bound (``min``, ``max``). Without a champion the relative rules hold. A
metric that is undefined (NaN) or not measured fails its rule.

>>> from streaminfer.pipelines.spec.training_spec import GateRuleSpec
>>> rules = [GateRuleSpec(metric="roc_auc", max_drop=0.005),
...          GateRuleSpec(metric="log_loss", max_increase=0)]
>>> result = evaluate_gate({"roc_auc": 0.99, "log_loss": 0.2},
...                        {"roc_auc": 0.98, "log_loss": 0.1}, rules)
>>> result.passed, result.reason
(False, "log_loss 0.2000 is above the champion's 0.1000 by 0.1000 (max_increase 0)")
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from streaminfer.operators.metric_table import METRICS, gain
from streaminfer.pipelines.spec.training_spec import GateRuleSpec


@dataclass(frozen=True)
class GateResult:
    """Whether every rule held, and why not when one did not."""

    passed: bool
    reasons: tuple[str, ...] = ()

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


def evaluate_gate(
    candidate: Mapping[str, float], champion: Mapping[str, float] | None,
    rules: Sequence[GateRuleSpec],
) -> GateResult:
    """Check every rule; the reasons name each failed one with the numbers."""
    reasons = [reason for rule in rules
               if (reason := _failure(rule, candidate, champion)) is not None]
    return GateResult(not reasons, tuple(reasons))


def _failure(
    rule: GateRuleSpec, candidate: Mapping[str, float], champion: Mapping[str, float] | None,
) -> str | None:
    """Why ``rule`` fails, or ``None`` when it holds."""
    name = rule.metric
    value = candidate.get(name, math.nan)
    if math.isnan(value):
        return f"{name} is not defined on the holdout for the candidate"
    if rule.min is not None and value < rule.min:
        return f"{name} {value:.4f} is below the minimum {rule.min:g}"
    if rule.max is not None and value > rule.max:
        return f"{name} {value:.4f} is above the maximum {rule.max:g}"
    if (rule.max_drop is None and rule.max_increase is None) or champion is None:
        return None
    base = champion.get(name, math.nan)
    if math.isnan(base):
        return f"{name} is not defined on the holdout for the champion"
    allowed = rule.max_drop if rule.max_drop is not None else rule.max_increase
    assert allowed is not None
    worse_by = -gain(name, value, base)  # the spec ties max_drop / max_increase to direction
    if worse_by > allowed:
        bound = "max_drop" if rule.max_drop is not None else "max_increase"
        return (f"{name} {value:.4f} is {METRICS[name].worse_side} the champion's {base:.4f} by "
                f"{worse_by:.4f} ({bound} {allowed:g})")
    return None
