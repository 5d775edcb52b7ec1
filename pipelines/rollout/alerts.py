"""Alerts of automatic rollout actions, on the alerts topic (the Alert contract)."""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson

from streaminfer.operators.kafka_sink import KafkaSink, SinkError

log = logging.getLogger(__name__)
FLUSH_S = 10.0


def rollback_alert(model: str, version: str, metric: str, value: float, threshold: float,
                   message: str) -> dict[str, Any]:
    """The Alert of an automatic rollback of ``version``.

    >>> rollback_alert("bc", "2", "accuracy", 0.7, 0.88, "why")["kind"]
    'rollback'
    """
    return {"kind": "rollback", "model": model, "version": version, "metric": metric,
            "value": value, "threshold": threshold, "ts": int(time.time() * 1000),
            "message": message}


class AlertPublisher:
    """Publishes alerts to one topic; a failure is logged, never raised."""

    def __init__(self, kafka_config: dict[str, Any], topic: str) -> None:
        self.topic = topic
        self._sink = KafkaSink(kafka_config, linger_ms=0, compression="none")

    def publish(self, alert: dict[str, Any]) -> None:
        try:
            self._sink.send(self.topic, str(alert["model"]).encode(), orjson.dumps(alert))
            self._sink.flush(FLUSH_S)
        except SinkError as exc:
            log.warning("alert not published to %s: %s", self.topic, exc)

    def close(self) -> None:
        self._sink.close()
