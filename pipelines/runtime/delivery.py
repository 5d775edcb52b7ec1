"""Deliver one batch: produce its outputs, await every ack, retry by one policy, then commit.

The one at-least-once primitive of the runtime: the scoring loop (online worker) and a batch
job's topic output use it; the feedback joiner can. Offsets are committed only after an
attempt whose every record the broker acknowledged; an attempt that fails is made again
after the policy's pause (awaited on ``stop``, so a stop cuts it short), and a batch given up
is never committed.

>>> from streaminfer.pipelines.spec.delivery_spec import DeliverySpec
>>> calls = []
>>> def produce(n):
...     calls.append(n)
...     if n < 2:
...         raise SinkError("refused")
...     return "acked"
>>> done = deliver(produce, calls.append, policy=DeliverySpec(backoff_s=(0,)), give_up=True)
>>> done.delivered, done.attempts, calls
(True, 2, [1, 2, 'acked'])
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from streaminfer.pipelines.kafka.sink import SinkError
from streaminfer.pipelines.spec.delivery_spec import DeliverySpec

T = TypeVar("T")


@dataclass(frozen=True)
class Delivery(Generic[T]):
    """How a delivery ended: ``result`` of the attempt that was acknowledged (and committed),
    or ``error``, the last failure of a batch given up (nothing committed)."""

    attempts: int
    result: T | None = None
    error: Exception | None = None

    @property
    def delivered(self) -> bool:
        return self.error is None


def deliver(
    produce: Callable[[int], T], commit: Callable[[T], None], *, policy: DeliverySpec,
    give_up: bool, stop: threading.Event | None = None,
    retryable: tuple[type[Exception], ...] = (SinkError,),
    on_retry: Callable[[int, Exception, float], None] | None = None,
) -> Delivery[T]:
    """Call ``produce(attempt)`` (send every output and await every ack; raise one of
    ``retryable`` when anything was not acknowledged) until it succeeds, then
    ``commit(result)``.

    ``give_up``: stop after ``policy.attempts`` failed attempts; otherwise retry until it
    succeeds or ``stop`` is set. ``on_retry(attempt, error, pause_s)`` is told of each retry.
    """
    pause = stop or threading.Event()
    attempt = 0
    while True:
        attempt += 1
        try:
            result = produce(attempt)
        except retryable as exc:
            if (attempt >= policy.attempts) if give_up else pause.is_set():
                return Delivery(attempts=attempt, error=exc)
            delay = policy.pause_s(attempt)
            if on_retry is not None:
                on_retry(attempt, exc, delay)
            pause.wait(delay)
            continue
        commit(result)
        return Delivery(attempts=attempt, result=result)
