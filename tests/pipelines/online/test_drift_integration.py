"""Drift in a real pipeline (embedded broker, Ray, ONNX Runtime, the breast-cancer model and
its profile written by build-models): an unshifted stream raises no alert; the same stream
with two features shifted by 3 standard deviations raises exactly one alert per shifted
feature on the alerts topic.

Margins: events are dataset rows drawn at random (seeded), so their expected PSI is that of
sampling alone, about 9/n for 10 bins (< 0.03 at the 400 events a window needs; the
highest of 31 metrics stays < 0.1), against a threshold of 0.2. Shifted by 3 sd, a feature
has PSI > 1.
"""

from __future__ import annotations

import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import yaml

from streaminfer.operators.records import Record
from streaminfer.pipelines.devtools.example_models import Dataset
from streaminfer.waiting import wait_until

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
SHIFTED = ("mean_texture", "worst_area")
EVENTS = 1500


def _events(dataset: Dataset, start: int, count: int, seed: int,
            shift: dict[str, float]) -> tuple[list[bytes | None], list[bytes | None]]:
    rng = np.random.default_rng(seed)
    rows = dataset.X[rng.integers(0, len(dataset.X), size=count)].copy()
    sd = dataset.X.std(axis=0)
    for name, k in shift.items():
        column = dataset.features.index(name)
        rows[:, column] += k * sd[column]
    keys: list[bytes | None] = []
    values: list[bytes | None] = []
    for i, row in enumerate(rows, start=start):
        keys.append(f"e{i}".encode())
        values.append(orjson.dumps({"id": f"e{i}", **dict(zip(dataset.features, row.tolist(),
                                                               strict=True))}))
    return keys, values


def test_shifted_stream_alerts_once_per_drifted_feature(
    pipeline_factory: Callable[..., Any], dataset_factory: Callable[[str], Dataset],
    produce: Callable[..., None], topic_factory: Callable[..., str],
    read_all: Callable[[str], list[Record]],
) -> None:
    alerts_topic = topic_factory(1, prefix="alerts")
    running = pipeline_factory(model="breast_cancer", drift={
        "window_s": 600, "min_events": 400, "feature_threshold": 0.2,
        "prediction_threshold": 0.2, "alerts_topic": alerts_topic})
    pipeline = running.pipeline
    dataset = dataset_factory("breast_cancer")

    def counted() -> int:
        states = pipeline.drift()
        return states[0].rows if states and states[0].psi else 0

    keys, values = _events(dataset, 0, EVENTS, seed=11, shift={})
    produce(running.source_topic, values, keys)
    assert wait_until(lambda: counted() >= EVENTS, 120), pipeline.drift()
    (calm,) = pipeline.drift()
    assert calm.alerts == 0 and calm.drifted == []
    assert max(calm.psi.values()) < 0.1, calm.psi  # the margin the docstring claims
    # The watch counts an alert before it publishes it: none counted, none on its way.
    assert read_all(alerts_topic) == []

    keys, values = _events(dataset, EVENTS, EVENTS, seed=12,
                           shift=dict.fromkeys(SHIFTED, 3.0))
    produce(running.source_topic, values, keys)
    assert wait_until(lambda: counted() >= 2 * EVENTS, 120), pipeline.drift()
    (state,) = pipeline.drift()
    feature_alerts = state.alerts - ("prediction" in state.drifted)
    url = pipeline.metrics_url
    assert url is not None
    scraped = urllib.request.urlopen(url, timeout=10).read().decode()
    assert f'feature="{SHIFTED[0]}"' in scraped and "streaminfer_drift_psi" in scraped
    pipeline.stop()  # its publisher flushed: the topic holds every alert, any extra too
    payloads = [orjson.loads(r.value or b"") for r in read_all(alerts_topic)]
    assert len(payloads) == state.alerts, payloads
    by_metric = Counter(p["metric"] for p in payloads)
    assert {m: n for m, n in by_metric.items() if m != "psi:prediction"} == {
        f"psi:{name}": 1 for name in SHIFTED}, payloads
    assert by_metric["psi:prediction"] <= 1  # once per crossing, if the output moved
    assert feature_alerts == len(SHIFTED)
    for p in payloads:
        assert set(p) == {"kind", "model", "version", "metric", "value", "threshold",
                          "window", "ts", "message"}
        assert (p["kind"], p["model"], p["window"]) == ("drift", "breast_cancer", "600s")
        assert p["value"] > p["threshold"] == 0.2
    for name in SHIFTED:
        assert state.psi[name] > 1.0


def test_drift_reads_a_renamed_output_and_the_workers_keep_running(
    pipeline_factory: Callable[..., Any], dataset_factory: Callable[[str], Dataset],
    produce: Callable[..., None], topic_factory: Callable[..., str],
    read_topic: Callable[..., list[Record]],
) -> None:
    """configs/mlp-scoring.yaml publishes the digits MLP's ``label`` as ``digit``; its
    profile bins ``label`` (ten classes): drift must read ``digit``."""
    outputs = yaml.safe_load((REPO / "configs" / "mlp-scoring.yaml").read_text())["model"][
        "outputs"]
    assert outputs["label"] != "label", outputs  # the rename this test is about
    running = pipeline_factory(model="digits_mlp", model_options={"outputs": outputs}, drift={
        "window_s": 600, "min_events": 200, "alerts_topic": topic_factory(1, prefix="alerts")})
    pipeline = running.pipeline
    dataset = dataset_factory("digits_mlp")
    keys, values = _events(dataset, 0, 400, seed=5, shift={})
    produce(running.source_topic, values, keys)

    def counted() -> int:
        states = pipeline.drift()
        return states[0].rows if states and states[0].psi else 0

    assert wait_until(lambda: counted() >= 400, 90), pipeline.drift()
    (state,) = pipeline.drift()
    assert "prediction" in state.psi and state.psi["prediction"] < 0.2, state.psi
    first = orjson.loads(read_topic(running.predictions_topic, 1)[0].value or b"")
    assert outputs["label"] in first and "label" not in first
    stats = pipeline.stats()  # no worker died counting drift
    assert stats.workers_dead == 0 and len(stats.workers) == stats.workers_expected, stats
    url = pipeline.metrics_url
    assert url is not None
    scraped = urllib.request.urlopen(url, timeout=10).read().decode()
    assert 'feature="prediction"' in scraped
