"""The demo's feedback: each event's true class, sent to the labels topic after a random delay.

Like the event generator, it sends few, large record batches
(:data:`~streaminfer.pipelines.kafka.embedded_broker.PRODUCER_SETTINGS`), keyed by the
event id so that a label lands in the partition of its prediction.
"""

from __future__ import annotations

import heapq
import threading
import time
from typing import Any

import numpy as np
import orjson

from streaminfer.pipelines.kafka.embedded_broker import PRODUCER_SETTINGS
from streaminfer.pipelines.kafka.factory import new_producer

#: How often due labels are handed to the producer.
SEND_EVERY_S = 0.1


class LabelSender(threading.Thread):
    """Sends ``{"id", "label"}`` for each scheduled event once its delay (uniform in
    ``0..max_delay_s``, seeded) has passed."""

    def __init__(self, config: dict[str, Any], topic: str, *, max_delay_s: float,
                 seed: int = 1) -> None:
        super().__init__(name="demo-labels", daemon=True)
        self._producer = new_producer(config, **PRODUCER_SETTINGS)
        self.topic, self.max_delay_s = topic, max_delay_s
        self._rng = np.random.default_rng(seed)
        self._due: list[tuple[float, str, Any]] = []
        self._lock = threading.Lock()
        self.stop_event = threading.Event()
        self.sent = 0
        self.error: BaseException | None = None

    def schedule(self, event_id: str, label: Any) -> None:
        """Send this event's label later (called by the generator for each good event)."""
        due = time.monotonic() + float(self._rng.uniform(0.0, self.max_delay_s))
        with self._lock:
            heapq.heappush(self._due, (due, event_id, label))

    @property
    def waiting(self) -> int:
        with self._lock:
            return len(self._due)

    def run(self) -> None:
        try:
            while not self.stop_event.wait(SEND_EVERY_S):
                self._send_due(time.monotonic())
            self._producer.flush()
        except BaseException as exc:  # reported by the demo, not lost in a thread
            self.error = exc
        finally:
            self._producer.close()

    def _send_due(self, now: float) -> None:
        due = []
        with self._lock:
            while self._due and self._due[0][0] <= now:
                due.append(heapq.heappop(self._due))
        for _, event_id, label in due:
            self._producer.send(self.topic, key=event_id.encode(),
                                value=orjson.dumps({"id": event_id, "label": label}))
        self.sent += len(due)
