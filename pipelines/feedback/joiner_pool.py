"""The joiner actors of one pipeline: start, re-assign on scale, read, stop."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, cast

from streaminfer.errors import PipelineError
from streaminfer.pipelines.common.loop_actor import drain_then_close
from streaminfer.pipelines.feedback.actor import FeedbackJoiner
from streaminfer.pipelines.feedback.metrics import JoinerStats
from streaminfer.pipelines.feedback.topics import assignment
from streaminfer.pipelines.spec.schema import PipelineSpec

if TYPE_CHECKING:
    from ray.actor import ActorHandle

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 120.0
STATS_TIMEOUT_S = 5.0


class JoinerPool:
    """Owns the joiner actors (``<pipeline>-joiner-<n>``), each with a fixed share of the
    partitions. Scaling drains them all and starts the new number with a new assignment:
    what was pending is read again from the committed offsets. Thread safe.

    With ``shadow_topic`` the joiners (``<pipeline>-shadow-joiner-<n>``) join a shadow's
    predictions to the labels for its live metrics only (see :class:`JoinLoop`)."""

    def __init__(self, spec: PipelineSpec, bootstrap_servers: str, partitions: int, *,
                 shadow_topic: str | None = None) -> None:
        assert spec.feedback is not None
        self.spec = spec
        self.shadow_topic = shadow_topic
        self.bootstrap_servers = bootstrap_servers
        self.partitions = partitions
        self._joiners: dict[str, ActorHandle[FeedbackJoiner]] = {}
        self._last: dict[str, JoinerStats] = {}
        self._generation = 0
        self._lock = threading.Lock()

    @property
    def names(self) -> list[str]:
        with self._lock:
            return list(self._joiners)

    def scale_to(self, count: int, timeout_s: float = 30.0) -> None:
        """Run ``count`` joiners (at most one per partition)."""
        with self._lock:
            if count == len(self._joiners):
                return
            self._retire(timeout_s)
            self._joiners = self._start(count)

    def stop(self, timeout_s: float = 30.0) -> list[JoinerStats]:
        """Drain (produce, commit) and stop every joiner; their final counters."""
        with self._lock:
            self._retire(timeout_s)
            return list(self._last.values())

    def _start(self, count: int) -> dict[str, ActorHandle[FeedbackJoiner]]:
        import ray

        spec = self.spec
        fb = spec.feedback
        assert fb is not None
        shares = assignment(self.partitions, count)
        if count > len(shares):
            log.warning("feedback.joiners.count=%d but the predictions topic has %d "
                        "partitions: starting %d", count, self.partitions, len(shares))
        started: dict[str, ActorHandle[FeedbackJoiner]] = {}
        for index, share in enumerate(shares):
            kind = "shadow-joiner" if self.shadow_topic else "joiner"
            name = f"{spec.name}-{kind}-{self._generation}-{index}"
            started[name] = cast("ActorHandle[FeedbackJoiner]", ray.remote(FeedbackJoiner).options(
                name=name, namespace=spec.ray.namespace, num_cpus=fb.joiners.num_cpus,
                max_restarts=fb.joiners.max_restarts, max_task_retries=0, max_concurrency=2,
            ).remote(spec, self.bootstrap_servers, name, share, self.shadow_topic))
        self._generation += 1
        errors = ray.get([a.ready.remote() for a in started.values()], timeout=READY_TIMEOUT_S)
        failed = [f"{n}: {e}" for n, e in zip(started, errors, strict=True) if e]
        if failed:
            for actor in started.values():
                ray.kill(actor, no_restart=True)
            raise PipelineError("joiner(s) could not start: " + "; ".join(failed))
        return started

    def _retire(self, timeout_s: float) -> None:
        actors, self._joiners = list(self._joiners.values()), {}
        if not actors:
            return
        for stats in drain_then_close(actors, timeout_s):
            self._last[stats.joiner_id] = stats

    def read(self, *, families: bool = False) -> list[JoinerStats]:
        """Every joiner's counters: fresh where it answered, else its last ones."""
        import ray

        with self._lock:
            joiners = dict(self._joiners)
        refs = {actor.stats.remote(families): name for name, actor in joiners.items()}
        ready, _ = ray.wait(list(refs), num_returns=len(refs), timeout=STATS_TIMEOUT_S)
        for ref in ready:
            try:
                stats = ray.get(ref)
            except ray.exceptions.RayError:  # restarting, or dead
                continue
            if stats is not None:
                with self._lock:
                    self._last[stats.joiner_id] = stats
        with self._lock:
            return [self._last[name] for name in joiners if name in self._last]
