"""Reading a pipeline's metrics endpoint back (``streaminfer status``), and its live view."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from rich.console import Console

from streaminfer.errors import PipelineError
from streaminfer.operators.join_state import JoinState
from streaminfer.operators.live_window import LiveWindow
from streaminfer.pipelines.feedback.live_metrics import LiveGauges, summarize
from streaminfer.pipelines.feedback.status import fetch_metrics, parse_status
from streaminfer.pipelines.kafka.embedded_broker import free_port
from streaminfer.pipelines.online.live_view import feedback_table
from streaminfer.pipelines.runtime.joiner_metrics import JoinerMetrics
from streaminfer.pipelines.runtime.metrics_server import WorkerFamilies
from streaminfer.pipelines.spec.feedback_spec import FeedbackSpec

FB = FeedbackSpec.model_validate({"labels_topic": "l", "training_topic": "t"})


def joiner(name: str, joins: int, expired: int) -> JoinerMetrics:
    """A joiner's metrics after ``joins`` joins and ``expired`` expired predictions."""
    state = JoinState(prediction_wait_s=1, label_wait_s=1, max_pending=1_000)
    for i in range(joins + expired):
        state.add_prediction(f"{name}{i}", b"p", partition=0, offset=i, now=0.0)
    for i in range(joins):
        state.add_label(f"{name}{i}", 1, partition=0, offset=i, now=0.0)
    state.expire(5.0)
    metrics = JoinerMetrics(name, [0])
    metrics.record_read("prediction", joins + expired, 0)
    metrics.record_flush(examples=joins, unmatched=expired, cases=state.counts,
                         pending={"prediction": 0, "label": 0})
    return metrics


def test_status_reads_back_what_the_driver_serves() -> None:
    registry = CollectorRegistry(auto_describe=False)
    families = WorkerFamilies()
    registry.register(families)
    gauges = LiveGauges(registry)
    window = LiveWindow(10, 60_000)
    window.add("m", "v1", 1, [0.2, 0.8], labelled_at_ms=1, delay_ms=40)
    window.add("m", "v1", 0, [0.3, 0.7], labelled_at_ms=2, delay_ms=60)
    stats = []
    for name, joins, expired in (("j0", 3, 1), ("j1", 2, 0)):
        m = joiner(name, joins, expired)
        stats.append(m.snapshot(running=True, window=window.rows(10) if name == "j0" else {},
                                families=True))
        families.update(name, stats[-1].families)
    summary = summarize(stats, FB)
    gauges.update(summary)
    status = parse_status(generate_latest(registry).decode())
    assert status.feedback is not None
    fb = status.feedback
    assert fb.matched == 5 and fb.cases["expired_prediction"] == 1
    assert fb.examples_out == 5 and fb.unmatched_out == 1
    assert fb.records_in["prediction"] == 6
    assert status.joiners == {"j0", "j1"}
    live = fb.live[("m", "v1")]
    assert live["examples"] == 2 and live["accuracy"] == pytest.approx(0.5)
    assert live["label_delay_p50_ms"] == pytest.approx(50.0)
    console = Console(record=True, width=200)
    console.print(feedback_table(fb))
    text = console.export_text()
    assert "5 joined" in text and "expired_prediction 1" in text and "0.500" in text
    narrow = Console(record=True, width=80)  # a plain terminal, a pipe
    narrow.print(feedback_table(fb))
    text = narrow.export_text()
    assert "…" not in text and max(map(len, text.splitlines())) <= 80
    for name in ("accuracy", "precision", "recall", "f1", "log_loss", "roc_auc"):
        assert f"{name}=" in text, text  # every live metric feedback.md lists


def test_status_says_in_one_line_when_nothing_listens() -> None:
    url = f"http://127.0.0.1:{free_port()}/metrics"
    with pytest.raises(PipelineError) as info:
        fetch_metrics(url, timeout_s=2.0)
    assert url in str(info.value) and "\n" not in str(info.value)


def test_a_pipeline_without_feedback_has_no_feedback_status() -> None:
    text = 'streaminfer_predictions_out_total{worker="w"} 3.0\n'
    status = parse_status(text)
    assert status.predictions == 3.0 and status.feedback is None


def test_every_metric_status_reads_is_exported_and_every_name_is_in_one_module() -> None:
    from streaminfer.operators import metric_names
    from streaminfer.pipelines.feedback import status
    from tests.fixtures.exported import endpoint_text, family_names

    exported = family_names(endpoint_text())
    assert status.READ - exported == set(), "status reads what nobody exports"
    assert metric_names.ALL - exported == set(), "a name in metric_names nobody exports"
    assert exported - metric_names.ALL == set(), "an exported name missing in metric_names"


def test_status_shows_the_driver_threads_last_errors() -> None:
    from tests.fixtures.exported import endpoint_text

    [error] = parse_status(endpoint_text()).thread_errors
    assert (error.thread, error.error, error.at, error.count) == ("alias follower", "E: x",
                                                                  1.0, 1)
