"""The log of a running pipeline's rollout actions: each one logged, kept (bounded) for
``Pipeline.actions()`` and published as an Alert (docs/contracts.md) when there is a topic.

Shared by the alias follower (shadow, promote, rollback, swap) and the automatic
retraining (retrain, candidate), so the alerts topic and ``actions()`` hold them in the
order they happened.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from streaminfer.operators.alerts import alert as make_alert
from streaminfer.operators.metric_names import ROLLOUT_ACTIONS as ACTIONS
from streaminfer.pipelines.kafka.alert_publisher import AlertPublisher

log = logging.getLogger(__name__)

KEEP = 200  # actions kept for the accessor, newest last


class ActionLog:
    """Log, keep and publish rollout actions; thread safe. ``publisher``: none without
    Kafka (the actions are still logged and kept); ``registry``: the driver's metrics, where
    ``streaminfer_rollout_actions_total{model, kind}`` counts them."""

    def __init__(self, publisher: AlertPublisher | None, keep: int = KEEP,
                 registry: CollectorRegistry | None = None) -> None:
        self.publisher = publisher
        self._kept: deque[dict[str, Any]] = deque(maxlen=keep)
        self._lock = threading.Lock()
        self._count = None if registry is None else Counter(
            ACTIONS, "Rollout actions (retrain, candidate, shadow, canary, promote, rollback, "
            "swap), one per alert.", ["model", "kind"], registry=registry)

    def record(self, kind: str, model: str, version: str | None, message: str, *,
               metric: str | None = None, value: float | None = None,
               threshold: float | None = None, window: str | None = None,
               level: int = logging.INFO) -> dict[str, Any]:
        """One action: logged, kept, published; the alert."""
        alert = make_alert(kind, model, version, metric, value, threshold, window,
                           int(time.time() * 1000), message)
        log.log(level, "model %s: %s: %s", model, kind, message)
        if self._count is not None:
            self._count.labels(model, kind).inc()
        with self._lock:  # one at a time: the topic holds them in the order kept
            self._kept.append(alert)
            if self.publisher is not None:
                self.publisher.publish(alert)
        return alert

    def recent(self) -> list[dict[str, Any]]:
        """The kept actions, newest last."""
        with self._lock:
            return list(self._kept)

    def close(self) -> None:
        if self.publisher is not None:
            self.publisher.close()
