"""The ``drift:`` section: defaults, thresholds per feature, and its errors in one line each."""

from __future__ import annotations

from pathlib import Path

import pytest

from streaminfer.errors import ConfigError
from streaminfer.pipelines.spec.loader import parse_spec

BASE = """\
name: p
source: {topics: [events], group_id: g, features: [a, b]}
model: {path: m.onnx}
sink: {predictions_topic: preds, dead_letter_topic: dlq}
"""


def _problem(drift: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_spec(BASE + f"drift: {drift}\n", source="pipe.yaml", base=Path("/base"))
    return str(info.value)


def test_absent_means_off_and_empty_means_defaults() -> None:
    assert parse_spec(BASE, base=Path("/b")).drift is None
    drift = parse_spec(BASE + "drift: {}\n", base=Path("/b")).drift
    assert drift is not None and drift.enabled
    assert (drift.window_s, drift.feature_threshold, drift.prediction_threshold,
            drift.min_events, drift.rearm_below, drift.alerts_topic) == (
        300.0, 0.2, 0.2, 500, 0.75, "streaminfer-alerts")


def test_thresholds_per_feature_and_for_the_prediction() -> None:
    drift = parse_spec(BASE + "drift: {feature_thresholds: {a: 0.5}, prediction_threshold: 0.3}\n",
                       base=Path("/b")).drift
    assert drift is not None
    assert (drift.threshold("a"), drift.threshold("b"), drift.threshold("prediction")) == (
        0.5, 0.2, 0.3)


@pytest.mark.parametrize(("drift", "says"), [
    ("{window_sec: 10}", "drift.window_sec: unknown key (did you mean 'window_s'?"),
    ("{feature_threshold: 0}", "drift.feature_threshold"),
    ("{feature_thresholds: {a: -1}}", "feature_thresholds must be above 0 (see a)"),
    ("{rearm_below: 1.5}", "drift.rearm_below"),
    ("{alerts_topic: events}", "drift.alerts_topic must be a topic of its own"),
    ("{alerts_topic: 'bad topic'}", "drift.alerts_topic"),
])
def test_errors_name_the_field(drift: str, says: str) -> None:
    message = _problem(drift)
    assert says in message, message
