"""Drift of a model fed by model.inputs in a real pipeline (embedded broker, Ray, ONNX
Runtime; the fraud_mixed example and the per-input profile build-models writes): fresh
transactions from its generator raise no alert; the same traffic with every transaction moved
to one country raises one alert, on ``psi:country``, and no other input's.

Margins: the country input has 9 bins (8 countries and "other"), so sampling alone gives a
PSI of about 8/n (< 0.01 at 1,000 events); the window of both halves holds 56% NG against
13% in training: a PSI of about 0.96 (0.5 asserted), against a threshold of 0.2.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from streaminfer.operators.records import Record
from streaminfer.pipelines.devtools.example_models import fraud_mixed_transactions
from streaminfer.waiting import wait_until

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
EVENTS = 1000


def _values(start: int, country: str | None) -> list[bytes | None]:
    data = fraud_mixed_transactions(EVENTS, seed=31 + start)
    values: list[bytes | None] = []
    for i, row in enumerate(data.X.tolist(), start=start):
        event = {"id": f"t{i}", **dict(zip(data.features, row, strict=True))}
        if country is not None:
            event["country"] = country
        values.append(orjson.dumps(event))
    return values


def test_a_shifted_country_mix_alerts_once_on_that_input(
    pipeline_factory: Callable[..., Any], produce: Callable[..., None],
    topic_factory: Callable[..., str], read_all: Callable[[str], list[Record]],
) -> None:
    mapped = yaml.safe_load((REPO / "configs" / "fraud-mixed.yaml").read_text())["model"]
    alerts_topic = topic_factory(1, prefix="alerts")
    running = pipeline_factory(
        model="fraud_mixed", source={"features": None},
        model_options={k: mapped[k] for k in ("inputs", "outputs", "postprocess")},
        drift={"window_s": 600, "min_events": 400, "feature_threshold": 0.2,
               "prediction_threshold": 0.2, "alerts_topic": alerts_topic})
    pipeline = running.pipeline

    def counted() -> int:
        states = pipeline.drift()
        return states[0].rows if states and states[0].psi else 0

    produce(running.source_topic, _values(0, None))
    assert wait_until(lambda: counted() >= EVENTS, 60), pipeline.drift()
    (calm,) = pipeline.drift()
    assert set(calm.psi) == {"country", "category", "channel", "amount", "hour",
                             "card_age_days", "prediction"}
    assert calm.alerts == 0 and max(calm.psi.values()) < 0.1, calm.psi

    produce(running.source_topic, _values(EVENTS, "NG"))
    assert wait_until(lambda: counted() >= 2 * EVENTS, 60), pipeline.drift()
    (state,) = pipeline.drift()
    pipeline.stop()  # its publisher flushed: the topic holds every alert
    by_metric = Counter(orjson.loads(r.value or b"")["metric"] for r in read_all(alerts_topic))
    assert state.psi["country"] > 0.5, state.psi
    assert {m: n for m, n in by_metric.items() if m != "psi:prediction"} == {
        "psi:country": 1}, by_metric
    assert by_metric["psi:prediction"] <= 1  # NG leans to fraud: the score may move too
