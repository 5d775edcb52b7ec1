"""A candidate version beside the serving one: shadow (scores a copy of every row) or canary
(answers a stable share of the events, chosen by a hash of their id).

>>> canary_picks(["e1", "e2", "e3"], 0.0), canary_picks(["e1", "e2"], 1.0)
([False, False, False], [True, True])
>>> agrees({"label": 1, "probabilities": [0.2, 0.8]}, {"label": 1, "probabilities": [0.4, 0.6]})
True
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter

from streaminfer.operators import metric_names as names
from streaminfer.operators.routing import id_share
from streaminfer.pipelines.lifecycle.versions import Candidate
from streaminfer.pipelines.runtime.model_backends import ModelBackend

CANARY_SALT = "canary:"  # not the routing split's hash: a canary share cuts across routes

LoadedCandidate = Candidate[ModelBackend]
"""A candidate as a worker runs it: its version loaded (an ONNX Runtime session)."""


def canary_picks(ids: list[Any], share: float) -> list[bool]:
    """Which events the canary answers: the same for an id in every worker and batch."""
    return [id_share(the_id, CANARY_SALT) < share for the_id in ids]


def agrees(served: dict[str, Any], shadow: dict[str, Any],
           label: str | None = "label") -> bool | None:
    """Whether a shadow's output agrees with the serving one's: the same class label (in
    field ``label``: ``output_field("label", model.outputs)``), else the same first output
    rounded to 6 digits; ``None`` when they cannot be compared."""
    if label is not None and label in served and label in shadow:
        return bool(served[label] == shadow[label])
    first = next(iter(served), None)
    if first is None or first not in shadow:
        return None
    try:
        return round(float(served[first]), 6) == round(float(shadow[first]), 6)
    except (TypeError, ValueError):
        return None


class ShadowTally:
    """A worker's running agreement counts per (model, shadow version), also as Prometheus
    counters in the worker's registry (the driver exports them with the worker's others)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.counts: dict[tuple[str, str], list[int]] = {}
        self._compared = Counter(
            names.SHADOW_COMPARED, "Rows a shadow version scored beside the served "
            "one and whose outputs were compared.", ["model", "version"], registry=registry)
        self._agreed = Counter(
            names.SHADOW_AGREED, "Rows on which a shadow version agreed with the "
            "served one (same label; regressors: same value).", ["model", "version"],
            registry=registry)

    def add(self, agreement: dict[tuple[str, str], list[int]]) -> None:
        for (model, version), (compared, agreed) in agreement.items():
            mine = self.counts.setdefault((model, version), [0, 0])
            mine[0] += compared
            mine[1] += agreed
            self._compared.labels(model, version).inc(compared)
            self._agreed.labels(model, version).inc(agreed)
