"""Serve every worker's Prometheus metrics from the driver, one ``worker`` label apart."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Gauge, make_wsgi_app
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from streaminfer.errors import ConfigError
from streaminfer.operators.metric_names import (
    DRIVER_THREAD_ERRORS,
    DRIVER_THREAD_LAST_ERROR,
    WORKERS_ALIVE,
)
from streaminfer.pipelines.runtime.driver_thread import ThreadError


class WorkerFamilies(Collector):
    """Holds the latest metric families each worker reported and merges them on scrape."""

    def __init__(self) -> None:
        self._latest: dict[str, list[Any]] = {}
        self._lock = threading.Lock()

    def update(self, worker_id: str, families: list[Any]) -> None:
        with self._lock:
            self._latest[worker_id] = families

    def forget(self, worker_id: str) -> None:
        """End every series of this actor (it retired): its label value leaves ``/metrics``."""
        with self._lock:
            self._latest.pop(worker_id, None)

    @property
    def actors(self) -> set[str]:
        """The actors whose families are served now."""
        with self._lock:
            return set(self._latest)

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            latest = dict(self._latest)
        merged: dict[str, Metric] = {}
        for worker_id, families in sorted(latest.items()):
            for family in families:
                out = merged.get(family.name)
                if out is None:
                    out = merged[family.name] = Metric(
                        family.name, family.documentation, family.type, family.unit
                    )
                for sample in family.samples:
                    out.add_sample(sample.name, {**sample.labels, "worker": worker_id},
                                   sample.value, sample.timestamp, sample.exemplar)
        yield from merged.values()


class ThreadErrors(Collector):
    """The driver threads' errors (``pipelines/runtime/driver_thread.py``): a count per
    thread, and the last error's time with its text as a label."""

    def __init__(self) -> None:
        self._sources: list[Callable[[], list[ThreadError]]] = []

    def watch(self, errors: Callable[[], list[ThreadError]]) -> None:
        """Serve what ``errors()`` says at each scrape."""
        self._sources.append(errors)

    def collect(self) -> Iterator[Metric]:
        count = CounterMetricFamily(DRIVER_THREAD_ERRORS, "Steps of a driver thread that "
                                    "failed (the thread goes on).", labels=["thread"])
        last = GaugeMetricFamily(DRIVER_THREAD_LAST_ERROR, "Unix time of a driver thread's "
                                 "last error, with its text.", labels=["thread", "error"])
        for source in self._sources:
            for error in source():
                count.add_metric([error.thread], error.count)
                last.add_metric([error.thread, error.error], error.at)
        yield count
        yield last


class MetricsServer:
    """The driver's ``/metrics`` endpoint (loopback unless configured otherwise)."""

    def __init__(self, host: str, port: int) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.workers = WorkerFamilies()
        self.registry.register(self.workers)
        self.threads = ThreadErrors()
        self.registry.register(self.threads)
        self.workers_alive = Gauge(
            WORKERS_ALIVE, "Source workers answering.", registry=self.registry
        )
        try:
            self._server = _serve(host, port, self.registry)
        except OSError as exc:
            raise ConfigError(
                f"metrics.port {port} on {host} cannot be bound ({exc.strerror}); choose "
                "another metrics.port, or 0 for a free one"
            ) from None
        self.host = host
        self.port = int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


#: How often the endpoint's thread looks for a stop: prometheus_client's own server waits up
#: to 0.5 s, which every pipeline stop paid (measured: ~0.25 s a stop on average).
STOP_POLL_S = 0.02


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No access log for scrapes."""


def _serve(host: str, port: int, registry: CollectorRegistry) -> WSGIServer:
    """prometheus_client's WSGI app on ``host:port`` (IPv4 or IPv6), in a daemon thread."""
    family = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                flags=socket.AI_PASSIVE)[0][0]
    server_class = type("MetricsHTTPServer", (_ThreadingServer,), {"address_family": family})
    server: WSGIServer = make_server(host, port, make_wsgi_app(registry), server_class,
                                     handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": STOP_POLL_S},
                     name="metrics-http", daemon=True).start()
    return server
