"""The shell of a Ray actor that runs one :class:`~streaminfer.pipelines.runtime.loop.Loop` in a
thread: the source worker and the feedback joiner are each this shell around their own loop.

Set-up errors are kept and reported by :meth:`LoopActor.ready`, so the driver shows one clear
line. An unexpected crash of the loop ends the process, and Ray restarts the actor (up to its
``max_restarts``); first the crash's reason (one line; its traceback too with ``-v``) goes
out with the counters (``stats``) until the driver says it read them
(:meth:`LoopActor.crash_read`, or :data:`CRASH_TELL_S` passed).
Stopping is two steps, so that a pool can drain every actor before any of them leaves its
consumer group: :meth:`~LoopActor.drain` (stop reading, finish, commit), then
:meth:`~LoopActor.close` (leave, close the clients); ``ActorPool.retire`` does both for a
pool (``pipelines/runtime/actor_pool.py``).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from kafka.errors import KafkaError

from streaminfer.errors import StreamInferError
from streaminfer.pipelines.process.heap import freeze_heap
from streaminfer.pipelines.process.log_levels import is_verbose
from streaminfer.pipelines.runtime.crash_loop import crash_text
from streaminfer.pipelines.runtime.loop import Loop

log = logging.getLogger(__name__)

S = TypeVar("S")
#: Longest a crashed loop's process waits for the driver to read why, before it ends.
CRASH_TELL_S = 10.0


@runtime_checkable
class Placed(Protocol):
    """Counters that say which Ray node their run is on (``WorkerStats``, ``JoinerStats``)."""

    node_id: str


def this_node() -> str:
    """The Ray node id of this process ("" outside Ray)."""
    import ray

    return ray.get_runtime_context().get_node_id() if ray.is_initialized() else ""


@runtime_checkable
class Crashable(Protocol):
    """Counters that can carry the loop's crash (``WorkerStats``)."""

    crashed: str | None


L = TypeVar("L", bound=Loop[Any])


class LoopActor(Generic[L, S]):
    """Runs the loop :meth:`_start` builds in a daemon thread; ``ready``/``stats``/``drain``/
    ``close`` for the driver."""

    loop: L | None = None
    error: str | None = None
    crash: str | None = None  # why the loop crashed (its process ends soon)

    def _start(self, build: Callable[[], L], name: str) -> None:
        """Build the loop (a set-up error becomes :attr:`error`) and run it in a thread."""
        self.loop, self.error = None, None
        try:
            self.loop = build()
        except StreamInferError as exc:
            self.error = str(exc)
            return
        except KafkaError as exc:
            self.error = f"cannot connect to Kafka: {exc}"
            return
        self._name = name
        self._node = this_node()
        self._crash_read = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        assert self.loop is not None
        freeze_heap()
        try:
            self.loop.run()
        except Exception as exc:
            self.crash = crash_text(exc)
            log.error("%s: the loop crashed: %s; exiting so Ray restarts this actor",
                      self._name, self.crash, exc_info=exc if is_verbose() else None)
            if self._tells_crash():  # the driver reads the reason and the last counters
                self._crash_read.wait(CRASH_TELL_S)
            os._exit(1)

    def _tells_crash(self) -> bool:
        """Whether the loop's counters carry a crash (a worker's do, a joiner's do not)."""
        try:
            return isinstance(self.loop.stats(False) if self.loop else None, Crashable)
        except Exception:
            return False

    def ready(self) -> str | None:
        """``None`` once the loop runs, else why it could not start."""
        return self.error

    def stats(self, families: bool = True) -> S | None:
        """Counters; ``families`` adds the Prometheus metric families (for the driver's
        endpoint)."""
        stats = self.loop.stats(families) if self.loop else None
        if self.crash is not None and isinstance(stats, Crashable):
            stats.crashed = self.crash
        if isinstance(stats, Placed):
            stats.node_id = self._node
        return stats

    def crash_read(self) -> None:
        """The driver has read why the loop crashed: the process may end now."""
        self._crash_read.set()

    def drain(self, timeout_s: float = 30.0) -> S | None:
        """Stop reading, finish what it holds and commit; stay in the group until close."""
        if self.loop is None:
            return None
        self.loop.request_stop()
        self._thread.join(timeout_s)
        return self.loop.stats()  # type: ignore[no-any-return]

    def close(self) -> S | None:
        """Leave the consumer group and close the Kafka clients; return the final stats."""
        if self.loop is None:
            return None
        if not self._thread.is_alive():
            self.loop.close()
        return self.loop.stats()  # type: ignore[no-any-return]
