"""The timeline's moments: from alerts (kinds, labels, time span, models, drift once per
version) and from the data (first and last row of each version); the JSON and the plot."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pyarrow as pa
import pytest

from streaminfer.pipelines.validation.model_report import ModelReport
from streaminfer.pipelines.validation.moments import (
    Moment,
    alert_label,
    decode_alerts,
    moments_from_alerts,
    moments_from_data,
    timeline,
)
from streaminfer.pipelines.validation.plots import figures
from streaminfer.pipelines.validation.report import as_json


def a(kind: str, version: str, ts: int, model: str = "bc", message: str = "") -> dict[str, Any]:
    return {"kind": kind, "model": model, "version": version, "metric": "accuracy",
            "value": 0.9, "threshold": 0.8, "window": "500 examples", "ts": ts,
            "message": message}


LOOP = [
    a("drift", "1", 1_100, message="feature 'x' drifted"),
    a("drift", "1", 1_150, message="feature 'y' drifted"),
    a("retrain", "1", 1_200, message="live accuracy 0.81 is below 0.9"),
    a("candidate", "2", 1_300, message="version 2 registered; gate passed"),
    a("shadow", "2", 1_400),
    a("promote", "2", 1_500),
    a("swap", "2", 1_500),
    a("rollback", "2", 1_700),
    a("swap", "1", 1_710),
]


def test_every_kind_of_a_loop_in_order_with_its_label() -> None:
    found = moments_from_alerts(LOOP, start_ms=0, end_ms=10_000)
    assert [m.label for m in found] == [
        "drift v1", "retrain", "v2 passed the gate", "shadow v2", "v2 promoted",
        "v2 serving", "v2 rolled back", "v1 serving"]
    assert all(m.source == "alerts" for m in found)
    assert found[1].message == "live accuracy 0.81 is below 0.9"
    assert found[0].ts_ms == 1_100  # the first drift alert of the version, not the second


def test_promote_before_swap_at_the_same_millisecond_whatever_the_input_order() -> None:
    found = moments_from_alerts([a("swap", "2", 5), a("promote", "2", 5)],
                                start_ms=0, end_ms=10)
    assert [m.kind for m in found] == ["promote", "swap"]


def test_only_the_span_and_the_models_asked_for() -> None:
    alerts = [a("retrain", "1", 999), a("shadow", "2", 1_000), a("promote", "2", 2_000),
              a("swap", "2", 2_001), a("promote", "7", 1_500, model="other")]
    found = moments_from_alerts(alerts, start_ms=1_000, end_ms=2_000, models={"bc"})
    assert [(m.kind, m.ts_ms) for m in found] == [("shadow", 1_000), ("promote", 2_000)]
    every_model = moments_from_alerts(alerts, start_ms=1_000, end_ms=2_000)
    assert [m.version for m in every_model] == ["2", "7", "2"]


def test_other_kinds_and_malformed_alerts_are_left_out() -> None:
    alerts: list[dict[str, Any]] = [
        a("latency", "1", 10), {"kind": "promote", "version": "2"},  # no ts
        {"kind": "promote", "version": "2", "ts": "soon"}, {"kind": "swap", "ts": True},
        a("promote", "2", 20)]
    assert [m.ts_ms for m in moments_from_alerts(alerts, start_ms=0, end_ms=100)] == [20]


@pytest.mark.parametrize(("message", "label"), [
    ("version 3 registered; rejected by the gate: accuracy 0.7 < 0.8", "v3 rejected by the gate"),
    ("retraining failed: 12 examples, fewer than 100", "retraining failed"),
    ("gate passed", "v3 passed the gate"),
    ("registered", "v3 candidate"),
])
def test_candidate_labels_say_the_verdict(message: str, label: str) -> None:
    assert alert_label("candidate", "3", message) == label


def test_first_and_last_row_of_each_version() -> None:
    versions = ["1", "1", "2", "1", "2", "2"]
    times = [100.0, 300.0, 250.0, 320.0, 900.0, 400.0]  # a straggler of v1 after v2 began
    found = moments_from_data(versions, times)
    assert [(m.label, m.ts_ms) for m in found] == [
        ("v1 first served", 100), ("v2 first served", 250), ("v1 last served", 320),
        ("v2 last served", 900)]
    assert {m.source for m in found} == {"data"}


def test_decode_skips_what_is_not_an_object() -> None:
    alerts, skipped = decode_alerts([orjson.dumps(a("swap", "2", 1)), b"not json", b"[1]",
                                     None])
    assert [x["kind"] for x in alerts] == ["swap"] and skipped == 3


def examples_table() -> pa.Table:
    """Labelled examples: v1 predicted at 1000..1900, v2 at 2000..2900; the last label at
    3500."""
    return pa.Table.from_pylist([
        {"model": "bc", "model_version": "1" if i < 10 else "2", "predicted_at": 1_000 + 100 * i,
         "labelled_at": 1_600 + 100 * i, "label": i % 2} for i in range(20)])


def test_timeline_of_labelled_examples_keeps_alerts_within_their_span() -> None:
    alerts = [a("retrain", "1", 999), a("shadow", "2", 1_500), a("promote", "2", 1_990),
              a("swap", "2", 1_995), a("rollback", "2", 3_500), a("swap", "1", 3_501),
              a("promote", "9", 1_700, model="not-in-the-data")]
    marks = timeline(examples_table(), alerts, ("kafka:alerts",))
    assert marks is not None
    assert [(m.label, m.ts_ms) for m in marks.moments] == [
        ("v1 first served", 1_000), ("shadow v2", 1_500), ("v1 last served", 1_900),
        ("v2 promoted", 1_990), ("v2 serving", 1_995), ("v2 first served", 2_000),
        ("v2 last served", 2_900), ("v2 rolled back", 3_500)]
    assert marks.alerts_read == len(alerts) and marks.alerts_from == ("kafka:alerts",)


def test_no_timeline_without_versions_and_times() -> None:
    assert timeline(pa.Table.from_pylist([{"label": 1, "predicted_at": 5}])) is None


def test_the_json_and_the_plot_carry_the_moments() -> None:
    marks = timeline(examples_table(), [a("promote", "2", 1_990)])
    assert marks is not None
    report = ModelReport("bc", "m.onnx", "2", "ab" * 32, "classifier", 20, {"accuracy": 0.5},
                         over_time={"1": [{"from_ms": 1_000, "to_ms": 1_900, "rows": 10,
                                           "accuracy": 0.9}],
                                    "2": [{"from_ms": 2_000, "to_ms": 2_900, "rows": 10,
                                           "accuracy": 0.95}]},
                         over_time_source="served")
    numbers = as_json("kafka:x", 20, [report], marks)
    assert [m["label"] for m in numbers["timeline"]["moments"]] == [
        "v1 first served", "v1 last served", "v2 promoted", "v2 first served",
        "v2 last served"]
    assert numbers["timeline"]["moments"][2] == Moment(
        1_990, "promote", "2", "v2 promoted", "alerts").as_dict()
    plain = base64.b64decode(figures(report)["metric over time"])
    marked = base64.b64decode(figures(report, marks.moments)["metric over time"])
    assert plain.startswith(b"\x89PNG") and marked.startswith(b"\x89PNG")
    assert marked != plain
