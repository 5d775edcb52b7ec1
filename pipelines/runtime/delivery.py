"""Deliver one batch: produce its outputs, await every ack, retry by one policy, then commit.

The one at-least-once primitive of the runtime: the scoring loop (online worker), the join
loop (feedback joiner) and a batch job's topic output use it. Offsets are committed only after
an attempt whose every record the broker acknowledged; an attempt that fails is made again
after the policy's pause (awaited on ``stop``, so a stop cuts it short), and a batch given up
is never committed. An :class:`Outbox` sends again only the records the broker did not
acknowledge (those it stored are not published twice).

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
from typing import Any, Generic, NamedTuple, TypeVar

from streaminfer.operators.records import new_tuple
from streaminfer.pipelines.kafka.sink import KeyedRecords, Sink, SinkError
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


class Outgoing(NamedTuple):
    """One record to produce (``partition`` None: by its key)."""

    topic: str
    key: bytes | None
    value: bytes | None
    partition: int | None = None
    headers: tuple[tuple[str, bytes], ...] = ()


class Outbox:
    """Records to produce until every one is acknowledged: after a failed attempt only those
    the sink did not acknowledge remain (all of them when it cannot say which), so a retry
    does not publish again what the broker stored.

    A record added with ``sink`` is sent at once (its ack is awaited at :meth:`produce`), so
    a long batch overlaps its sends with its work (:meth:`add_many`: many to one topic in one
    send); the others are sent at :meth:`produce`.
    Each outbox awaits only its own records' acks: several may be on their way at once.

    >>> from streaminfer.pipelines.kafka.memory import MemorySink
    >>> sink, box = MemorySink(), Outbox()
    >>> box.add(Outgoing("a", None, b"1")); box.add(Outgoing("b", None, b"2"))
    >>> sink.refuse(1, where=lambda sent: sent.topic == "b")
    >>> box.produce(sink, None)
    Traceback (most recent call last):
    ...
    streaminfer.pipelines.kafka.sink.SinkError: 1 of 2 records not acknowledged: refused (wait 1)
    >>> [r.topic for r in box.records], box.produce(sink, None), sink.values("a")
    (['b'], 1, [b'1'])
    """

    def __init__(self) -> None:
        self.records: list[Outgoing] = []
        self._acks: list[Any] = []  # of the first records, sent since the last produce
        self._refused: SinkError | None = None  # an eager send refused before queueing

    def add(self, record: Outgoing, sink: Sink | None = None) -> None:
        """Keep ``record`` until it is acknowledged; with ``sink``, send it now (when every
        record before it was sent, so the sink's positions stay the outbox's)."""
        self.records.append(record)
        if sink is not None and len(self._acks) == len(self.records) - 1 \
                and self._refused is None:
            try:
                self._acks.append(_send(sink, record))
            except SinkError as refused:  # sent again at produce
                self._refused = refused

    def add_many(self, topic: str, records: KeyedRecords, sink: Sink | None = None) -> None:
        """:meth:`add` each of ``records`` to ``topic`` (placed by their keys, no headers);
        with ``sink``, sent now together (:meth:`Sink.send_many`)."""
        eager = len(self._acks) == len(self.records) and self._refused is None
        self.records += [new_tuple(Outgoing, (topic, key, value, None, ()))
                         for key, value in records]
        if sink is not None and eager:
            self._acks += sink.send_many(topic, records)

    def __len__(self) -> int:
        return len(self.records)

    def produce(self, sink: Sink, timeout_s: float | None) -> int:
        """Send what remains, await every ack (up to ``timeout_s``) and empty the outbox;
        how many were acknowledged (an empty outbox does not wait). Raises
        :class:`SinkError` when any was not, keeping only those (a record not acknowledged
        *in time* may still land: sent again, it is then there twice)."""
        if not self.records:
            return 0
        acks, error = self._acks, self._refused
        self._acks, self._refused = [], None
        if error is None:
            try:
                for record in self.records[len(acks):]:
                    acks.append(_send(sink, record))
            except SinkError as refused:  # not even queued: learn what became of those before
                error = refused
        sent = len(acks)
        try:
            sink.wait(acks, timeout_s)
            unacked: set[int] = set()
        except SinkError as exc:
            if exc.failed is None:
                raise  # which ones is not known: all are sent again
            unacked, error = set(exc.failed), error or exc
        acked = sent - len(unacked)
        self.records = [r for i, r in enumerate(self.records) if i in unacked or i >= sent]
        if error is not None:
            raise error
        return acked


def _send(sink: Sink, record: Outgoing) -> Any:
    return sink.send(record.topic, record.key, record.value,
                     list(record.headers) if record.headers else None,
                     partition=record.partition)
