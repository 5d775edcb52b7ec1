"""The joiner as a Ray actor: one :class:`JoinLoop` in a thread; ``stats``/``drain``/``close``.

An unexpected crash of the loop ends the process and Ray restarts the actor (up to
``feedback.joiners.max_restarts``) with the same partitions: it reads again from the
committed offsets and rebuilds what was pending.
"""

from __future__ import annotations

import logging
import os
import threading

from kafka.errors import KafkaError

from streaminfer.errors import StreamInferError
from streaminfer.pipelines.common.heap import freeze_heap
from streaminfer.pipelines.feedback.joiner import JoinLoop
from streaminfer.pipelines.feedback.metrics import JoinerStats
from streaminfer.pipelines.spec.schema import PipelineSpec

log = logging.getLogger(__name__)


class FeedbackJoiner:
    """Ray actor around one :class:`JoinLoop` (made remote by the pool)."""

    def __init__(self, spec: PipelineSpec, bootstrap_servers: str, joiner_id: str,
                 partitions: list[int]) -> None:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
        self.error: str | None = None
        self.loop: JoinLoop | None = None
        try:
            self.loop = JoinLoop(spec, bootstrap_servers, joiner_id, partitions)
        except StreamInferError as exc:
            self.error = str(exc)
            return
        except KafkaError as exc:
            self.error = f"cannot connect to Kafka: {exc}"
            return
        self._thread = threading.Thread(target=self._run, name=f"join-{joiner_id}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        assert self.loop is not None
        freeze_heap()
        try:
            self.loop.run()
        except Exception:
            log.exception("%s: join loop crashed; exiting so Ray restarts this joiner",
                          self.loop.joiner_id)
            os._exit(1)

    def ready(self) -> str | None:
        """``None`` once the joiner runs, else why it could not start."""
        return self.error

    def stats(self, families: bool = True) -> JoinerStats | None:
        return self.loop.stats(families) if self.loop else None

    def drain(self, timeout_s: float = 30.0) -> JoinerStats | None:
        """Stop reading, produce and commit what is joined."""
        if self.loop is None:
            return None
        self.loop.request_stop()
        self._thread.join(timeout_s)
        return self.loop.stats()

    def close(self) -> JoinerStats | None:
        """Close the Kafka clients; the final stats."""
        if self.loop is None:
            return None
        if not self._thread.is_alive():
            self.loop.close()
        return self.loop.stats()
