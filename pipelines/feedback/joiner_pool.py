"""The joiner actors of one pipeline: an :class:`ActorPool` of ``FeedbackJoiner`` s, each
with a fixed share of the partitions, re-assigned on scale."""

from __future__ import annotations

import logging
import threading
from functools import partial
from typing import Any

from streaminfer.pipelines.feedback.topics import assignment
from streaminfer.pipelines.process.log_levels import actor_options
from streaminfer.pipelines.runtime.actor_pool import ActorPool, Actors, Series
from streaminfer.pipelines.runtime.crash_loop import Crash
from streaminfer.pipelines.runtime.joiner_actor import FeedbackJoiner
from streaminfer.pipelines.runtime.joiner_metrics import JoinerStats
from streaminfer.pipelines.spec.schema import PipelineSpec

log = logging.getLogger(__name__)


class JoinerPool:
    """Owns the joiner actors (``<pipeline>-joiner-<generation>-<n>``), each with a fixed
    share of the partitions. Scaling drains them all and starts the new number with a new
    assignment: what was pending is read again from the committed offsets. Thread safe.
    ``series``: where their metric families are served (a retired joiner's series end).

    With ``shadow_topic`` the joiners (``<pipeline>-shadow-joiner-...``) join a shadow's
    predictions to the labels for its live metrics only (see :class:`JoinLoop`)."""

    def __init__(self, spec: PipelineSpec, bootstrap_servers: str, partitions: int, *,
                 shadow_topic: str | None = None, series: Series | None = None,
                 actors: Actors | None = None) -> None:
        assert spec.feedback is not None
        self.spec = spec
        self.shadow_topic = shadow_topic
        self.bootstrap_servers = bootstrap_servers
        self.partitions = partitions
        kind = "shadow-joiner" if shadow_topic else "joiner"
        self.actors: ActorPool[JoinerStats] = ActorPool(kind, series=series, actors=actors)
        self._generation = 0
        self._scaling = threading.Lock()

    @property
    def names(self) -> list[str]:
        return self.actors.names

    def scale_to(self, count: int, timeout_s: float = 30.0) -> None:
        """Run ``count`` joiners (at most one per partition)."""
        with self._scaling:
            if count == len(self.actors.names):
                return
            self.actors.retire_all(timeout_s)
            shares = assignment(self.partitions, count)
            if count > len(shares):
                log.warning("feedback.joiners.count=%d but the predictions topic has %d "
                            "partitions: starting %d", count, self.partitions, len(shares))
            prefix = f"{self.spec.name}-{self.actors.kind}-{self._generation}"
            self._generation += 1
            self.actors.start({f"{prefix}-{index}": partial(self._create, f"{prefix}-{index}",
                                                             share)
                               for index, share in enumerate(shares)})

    def _create(self, name: str, share: list[int]) -> Any:
        import ray

        fb = self.spec.feedback
        assert fb is not None
        return ray.remote(FeedbackJoiner).options(
            name=name, namespace=self.spec.ray.namespace, num_cpus=fb.joiners.num_cpus,
            max_restarts=fb.joiners.max_restarts, max_task_retries=0, max_concurrency=2,
            **actor_options(),
        ).remote(self.spec, self.bootstrap_servers, name, share, self.shadow_topic)

    def stop(self, timeout_s: float = 30.0) -> list[JoinerStats]:
        """Drain (produce, commit) and stop every joiner; the final counters of every joiner
        ever started."""
        with self._scaling:
            self.actors.retire_all(timeout_s)
            return list(self.actors.last().values())

    def read(self, *, families: bool = False) -> tuple[list[JoinerStats], list[Crash]]:
        """Every joiner's counters, fresh where it answered, else its last ones, and the
        crashes not seen before; what the reading taught is kept (and, with ``families``,
        published)."""
        reading = self.actors.read(families=families)
        crashes = self.actors.note(reading)
        return list(self.actors.current(reading).values()), crashes
