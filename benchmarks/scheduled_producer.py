"""A producer at its library's default settings that sends events on a fixed schedule: the
load of benchmarks/endurance.py (kafka-python or librdkafka through confluent-kafka)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import orjson


class Feeder(threading.Thread):
    """Sends ``rate`` events/s to ``topic`` on a schedule (event i is due at start + i/rate),
    with a producer at its library's default settings. ``acked`` counts the events the broker
    acknowledged, ``sent`` those handed to the producer."""

    def __init__(self, kind: str, bootstrap: str, topic: str, rate: float,
                 rows: list[dict[str, float]]) -> None:
        super().__init__(name=f"feeder-{kind}", daemon=True)
        self.kind, self.bootstrap, self.topic, self.rate, self.rows = (
            kind, bootstrap, topic, rate, rows)
        self.sent = 0
        self.acked = 0
        self.failed = 0
        self.first_error: str | None = None
        self.behind_s = 0.0  # how late the most recent send was against its schedule
        self.max_behind_s = 0.0
        self.producer_stats: dict[str, Any] = {}
        self.error: str | None = None
        self._halt = threading.Event()
        self._lock = threading.Lock()

    def stop(self) -> None:
        self._halt.set()

    def _delivered(self, ok: bool, error: Any = None) -> None:
        with self._lock:
            if ok:
                self.acked += 1
            else:
                self.failed += 1
                if self.first_error is None:
                    self.first_error = str(error)

    def _event(self, i: int) -> tuple[bytes, bytes]:
        key = f"e{i}"
        return key.encode(), orjson.dumps({"id": key, **self.rows[i % len(self.rows)]})

    def run(self) -> None:
        try:
            if self.kind == "kafka-python":
                self._run_kafka_python()
            else:
                self._run_librdkafka()
        except Exception as exc:  # reported in the results, the trial goes on
            self.error = f"{type(exc).__name__}: {exc}"

    def _due(self, started: float) -> int:
        """Wait until at least one event is due; return how many are due in all (0: stop)."""
        while not self._halt.is_set():
            due = int((time.monotonic() - started) * self.rate) + 1
            if due > self.sent:
                return due
            self._halt.wait((self.sent / self.rate) - (time.monotonic() - started))
        return 0

    def _lateness(self, started: float) -> None:
        self.behind_s = max(0.0, time.monotonic() - started - self.sent / self.rate)
        self.max_behind_s = max(self.max_behind_s, self.behind_s)

    def _run_kafka_python(self) -> None:
        from kafka import KafkaProducer

        producer = KafkaProducer(bootstrap_servers=self.bootstrap)  # library defaults
        try:
            started = time.monotonic()
            while due := self._due(started):
                while self.sent < due and not self._halt.is_set():
                    key, value = self._event(self.sent)
                    future = producer.send(self.topic, key=key, value=value)
                    future.add_callback(lambda _meta: self._delivered(True))
                    future.add_errback(lambda exc: self._delivered(False, exc))
                    self.sent += 1
                self._lateness(started)
            producer.flush(timeout=10)
            metrics = producer.metrics()
            wanted = ("batch-size-avg", "record-size-avg", "records-per-request-avg",
                      "request-rate", "record-send-rate")
            self.producer_stats = {k: round(v, 2) for k, v in
                                   metrics.get("producer-metrics", {}).items() if k in wanted}
        finally:
            producer.close(timeout=10)

    def _run_librdkafka(self) -> None:
        from confluent_kafka import Producer

        def delivered(error: Any, _message: Any) -> None:
            self._delivered(error is None, error)

        def stats(raw: str) -> None:
            topic = json.loads(raw).get("topics", {}).get(self.topic, {})
            if topic.get("batchcnt", {}).get("cnt"):
                self.producer_stats = {
                    "records_per_batch_avg": topic["batchcnt"]["avg"],
                    "batch_bytes_avg": topic["batchsize"]["avg"],
                }

        # Library defaults; statistics only report what it did (they change no batching).
        producer = Producer({"bootstrap.servers": self.bootstrap, "on_delivery": delivered,
                             "statistics.interval.ms": 10_000, "stats_cb": stats,
                             "log_level": 3})
        started = time.monotonic()
        while due := self._due(started):
            while self.sent < due and not self._halt.is_set():
                key, value = self._event(self.sent)
                try:
                    producer.produce(self.topic, key=key, value=value)
                except BufferError:  # its queue is full: let it send, then retry
                    producer.poll(0.01)
                    continue
                self.sent += 1
                if self.sent % 100 == 0:
                    producer.poll(0)
            producer.poll(0)
            self._lateness(started)
        producer.flush(10)
