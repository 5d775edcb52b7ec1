"""What each model serves, on the driver's metrics endpoint (``streaminfer status`` reads it
back): ``streaminfer_model_serving{model,version,follows,candidate,mode} 1``, plus
``streaminfer_model_canary_share{model,version}`` while a canary runs."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from streaminfer.operators.metric_names import CANARY_SHARE
from streaminfer.operators.metric_names import MODEL_SERVING as SERVING
from streaminfer.pipelines.rollout.status import ModelServing


class ServingCollector(Collector):
    """Reads ``models()`` at each scrape (one line per model)."""

    def __init__(self, models: Callable[[], list[ModelServing]]) -> None:
        self.models = models

    def collect(self) -> Iterator[Metric]:
        serving = GaugeMetricFamily(
            SERVING, "1 per model: the version serving now, the alias it follows, and its "
            "candidate (shadow or canary) if any.",
            labels=["model", "version", "follows", "candidate", "mode"])
        share = GaugeMetricFamily(CANARY_SHARE, "The share of events a canary answers.",
                                  labels=["model", "version"])
        for m in self.models():
            serving.add_metric([m.model, m.version, m.follows or "", m.candidate or "",
                                m.mode or ""], 1.0)
            if m.mode == "canary" and m.candidate is not None:
                share.add_metric([m.model, m.candidate], m.share)
        yield serving
        yield share


def read_serving(text: str) -> list[ModelServing]:
    """The models back from a scraped endpoint's text (empty: none reported).

    >>> from prometheus_client import CollectorRegistry, generate_latest
    >>> registry = CollectorRegistry()
    >>> registry.register(ServingCollector(lambda: [ModelServing("bc", "2", None, "3",
    ...                                                          "canary", 0.1)]))
    >>> [(m.model, m.version, m.candidate, m.mode, m.share)
    ...  for m in read_serving(generate_latest(registry).decode())]
    [('bc', '2', '3', 'canary', 0.1)]
    """
    from prometheus_client.parser import text_string_to_metric_families

    samples = [(sample.name, sample.labels, sample.value)
               for family in text_string_to_metric_families(text)
               if family.name in (SERVING, CANARY_SHARE) for sample in family.samples]
    shares = {(labels["model"], labels["version"]): value
              for name, labels, value in samples if name == CANARY_SHARE}
    out = []
    for name, labels, _ in samples:
        if name != SERVING:
            continue
        candidate = labels.get("candidate") or None
        out.append(ModelServing(
            labels["model"], labels["version"], labels.get("follows") or None, candidate,
            labels.get("mode") or None, shares.get((labels["model"], candidate or ""), 0.0)))
    return sorted(out, key=lambda m: m.model)
