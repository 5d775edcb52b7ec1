"""The joiner as a Ray actor: one :class:`JoinLoop` in a :class:`LoopActor` shell.

An unexpected crash of the loop ends the process and Ray restarts the actor (up to
``feedback.joiners.max_restarts``) with the same partitions: it reads again from the
committed offsets and rebuilds what was pending.
"""

from __future__ import annotations

import logging

from streaminfer.pipelines.process.log_levels import setup_actor_logging
from streaminfer.pipelines.runtime.joiner import JoinLoop
from streaminfer.pipelines.runtime.joiner_metrics import JoinerStats
from streaminfer.pipelines.runtime.loop_actor import LoopActor
from streaminfer.pipelines.spec.schema import PipelineSpec

log = logging.getLogger(__name__)


class FeedbackJoiner(LoopActor[JoinLoop, JoinerStats]):
    """Ray actor around one :class:`JoinLoop` (made remote by the pool)."""

    def __init__(self, spec: PipelineSpec, bootstrap_servers: str, joiner_id: str,
                 partitions: list[int], shadow_topic: str | None = None) -> None:
        setup_actor_logging()  # `streaminfer -v` reaches here (common/log_levels.py)
        self._start(lambda: JoinLoop(spec, bootstrap_servers, joiner_id, partitions,
                                          shadow_topic=shadow_topic),
                    f"join-{joiner_id}")
