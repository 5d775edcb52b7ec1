"""The driver's /metrics endpoint: every worker's families, told apart by a ``worker`` label."""

from __future__ import annotations

import pickle
import socket
import urllib.request
from collections import Counter as Tally
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from streaminfer.errors import ConfigError
from streaminfer.pipelines.runtime.metrics_server import MetricsServer, WorkerFamilies
from streaminfer.pipelines.runtime.worker_metrics import WorkerMetrics


@pytest.fixture(scope="module")
def server() -> Iterator[MetricsServer]:
    """One server for the module (closing one takes half a second); each test reports
    under worker ids of its own."""
    running = MetricsServer("127.0.0.1", 0)
    yield running
    running.close()


def _worker(worker_id: str, events: dict[str, int], dead: list[str]) -> list[object]:
    """A real worker's families, as they arrive at the driver (pickled through Ray)."""
    metrics = WorkerMetrics(worker_id, pid=1000)
    metrics.record_batch(topics=Tally(events), predictions=sum(events.values()) - len(dead),
                         dead_letters=dead, latencies_ms=[3, 4], inference_s=0.001)
    return pickle.loads(pickle.dumps(metrics.snapshot(running=True))).families


def _scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        text = response.read().decode()
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def test_it_binds_loopback_on_a_free_port(server: MetricsServer) -> None:
    assert server.port > 0
    assert server._server.server_address == ("127.0.0.1", server.port)
    assert server.url == f"http://127.0.0.1:{server.port}/metrics"


def test_two_workers_are_served_with_a_worker_label(server: MetricsServer) -> None:
    server.workers.update("w-0", _worker("w-0", {"events": 5}, ["invalid_json"]))
    server.workers.update("w-1", _worker("w-1", {"events": 2, "more": 1}, []))
    server.workers_alive.set(2)
    samples = _scrape(server.url)

    def value(name: str, **labels: str) -> float | None:
        return samples.get((name, frozenset(labels.items())))

    assert value("streaminfer_events_in_total", topic="events", worker="w-0") == 5
    assert value("streaminfer_events_in_total", topic="events", worker="w-1") == 2
    assert value("streaminfer_events_in_total", topic="more", worker="w-1") == 1
    assert value("streaminfer_predictions_out_total", worker="w-0") == 4
    assert value("streaminfer_predictions_out_total", worker="w-1") == 3
    assert value("streaminfer_dead_letters_total", reason="invalid_json", worker="w-0") == 1
    assert value("streaminfer_batch_size_count", worker="w-1") == 1
    assert value("streaminfer_batch_size_sum", worker="w-1") == 3
    assert value("streaminfer_workers_alive") == 2
    worker_samples = [labels for (name, labels) in samples
                      if name.startswith("streaminfer_") and name != "streaminfer_workers_alive"]
    assert worker_samples
    assert all("worker" in dict(labels) for labels in worker_samples)


def test_a_later_report_replaces_the_earlier_one(server: MetricsServer) -> None:
    server.workers.update("w-again", _worker("w-again", {"events": 5}, []))
    server.workers.update("w-again", _worker("w-again", {"events": 9}, []))
    samples = _scrape(server.url)
    assert samples[("streaminfer_events_in_total",
                    frozenset({"topic": "events", "worker": "w-again"}.items()))] == 9


def test_no_worker_reported_yet() -> None:
    fresh = MetricsServer("127.0.0.1", 0)
    try:
        samples = _scrape(fresh.url)
    finally:
        fresh.close()
    assert not any(name.startswith("streaminfer_events_in") for name, _ in samples)
    assert samples[("streaminfer_workers_alive", frozenset())] == 0


def test_collect_merges_families_by_name() -> None:
    families = WorkerFamilies()
    families.update("b", _worker("b", {"t": 1}, []))
    families.update("a", _worker("a", {"t": 2}, []))
    merged = {family.name: family for family in families.collect()}
    events = merged["streaminfer_events_in"]
    totals = [(s.labels["worker"], s.value) for s in events.samples if s.name.endswith("_total")]
    assert totals == [("a", 2.0), ("b", 1.0)]  # one family, workers in a stable order


def test_a_port_in_use_is_a_config_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError) as info:
            MetricsServer("127.0.0.1", port)
    message = str(info.value)
    assert message.startswith(f"metrics.port {port} on 127.0.0.1 cannot be bound (")
    assert "choose another metrics.port, or 0 for a free one" in message
