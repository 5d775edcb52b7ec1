"""The one loop of the runtime: poll -> process -> produce -> await acks -> commit.

A :class:`Loop` runs in one thread until :meth:`~Loop.request_stop`: :meth:`~Loop.start`
once, :meth:`~Loop.step` again and again (poll, process what was read, and when a batch is
due deliver it: produce its outputs, await every acknowledgement, then commit the offsets
below it, by :meth:`~Loop.deliver`'s one retry policy), then :meth:`~Loop.finish` (deliver
what it holds, giving up after the policy's attempts; nothing given up is committed).
:meth:`~Loop.close` leaves the group and closes the clients. The scoring loop (online worker,
``worker.py``) and the join loop (feedback joiner, ``joiner.py``) are loops, and the actor
shell (``loop_actor.py``) runs either the same way; a batch job's topic unit calls
:func:`~streaminfer.pipelines.runtime.delivery.deliver` alone (it does not poll).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Generic, TypeVar

from streaminfer.pipelines.kafka.sink import SinkError
from streaminfer.pipelines.runtime.delivery import Delivery, deliver
from streaminfer.pipelines.spec.delivery_spec import DeliverySpec

S = TypeVar("S")
T = TypeVar("T")


class Loop(ABC, Generic[S]):
    """One consumer's loop, with ``policy`` (the spec's ``sink.delivery``) for its
    deliveries; its counters are an ``S``."""

    def __init__(self, policy: DeliverySpec) -> None:
        self.delivery = policy
        self._stop = threading.Event()
        self._running = False

    def request_stop(self) -> None:
        """Make :meth:`run` finish and return (from any thread); cuts a retry pause short."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:
        """:meth:`start`, :meth:`step` until asked to stop, then :meth:`finish`."""
        self._running = True
        try:
            self.start()
            while not self._stop.is_set():
                self.step()
            self.finish()
        finally:
            self._running = False

    def start(self) -> None:
        """Before the first poll, in the loop's thread (nothing by default)."""

    @abstractmethod
    def step(self) -> None:
        """Poll and process; deliver what is due."""

    @abstractmethod
    def finish(self) -> None:
        """Deliver what it holds (giving up after the policy's attempts) and commit; the
        consumer stays open until :meth:`close`."""

    @abstractmethod
    def close(self) -> None:
        """Leave the group and close the clients (after :meth:`run` returned)."""

    @abstractmethod
    def stats(self, families: bool = True) -> S:
        """Counters; ``families`` adds the Prometheus metric families."""

    def deliver(self, produce: Callable[[int], T], commit: Callable[[T], None], *,
                give_up: bool, retryable: tuple[type[Exception], ...] = (SinkError,),
                on_retry: Callable[[int, Exception, float], None] | None = None,
                ) -> Delivery[T]:
        """:func:`~streaminfer.pipelines.runtime.delivery.deliver` by this loop's policy,
        its retry pauses cut short by :meth:`request_stop`."""
        return deliver(produce, commit, policy=self.delivery, give_up=give_up,
                       stop=self._stop, retryable=retryable, on_retry=on_retry)
