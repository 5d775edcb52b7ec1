"""Publish alerts (the contract in ``operators/alerts.py``) to the alerts topic."""

from __future__ import annotations

import logging
from typing import Any

import orjson

from streaminfer.pipelines.kafka.sink import KafkaSink, SinkError

log = logging.getLogger(__name__)
FLUSH_S = 10.0


class AlertPublisher:
    """Publishes alerts to one topic, keyed by model; a failure is logged, never raised (an
    alert must not stop the pipeline it reports on)."""

    def __init__(self, kafka_config: dict[str, Any], topic: str) -> None:
        self.topic = topic
        self._sink = KafkaSink(kafka_config, linger_ms=0, compression="none")

    def publish(self, payload: dict[str, Any]) -> None:
        try:
            self._sink.wait([self._sink.send(self.topic, str(payload["model"]).encode(),
                                             orjson.dumps(payload))], FLUSH_S)
        except SinkError as exc:
            log.warning("alert not published to %s: %s", self.topic, exc)

    def close(self) -> None:
        self._sink.close()
