"""Model changes a worker's scoring loop applies at a batch boundary.

Another thread (the actor's ``swap_model``/``set_candidate`` call) loads the new session off
the hot path and stages the change here; the loop thread applies what is staged between two
micro-batches, so each batch is scored by one set of versions, every event once, and the
loop never waits for a load.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from streaminfer.pipelines.runtime.candidates import LoadedCandidate
from streaminfer.pipelines.runtime.model_backends import ModelBackend
from streaminfer.pipelines.runtime.scoring import BatchScorer

log = logging.getLogger(__name__)

Role = Literal["serving", "candidate"]


@dataclass
class _Staged:
    change: Callable[[BatchScorer], str]  # applies the change; says what it did
    applied: threading.Event


class ModelSwaps:
    """Changes staged by one thread, applied by the scoring loop's; thread safe."""

    def __init__(self) -> None:
        self._staged: dict[tuple[str, Role], _Staged] = {}
        self._lock = threading.Lock()

    def replace(self, name: str, backend: ModelBackend,
                then: Callable[[], None] | None = None) -> threading.Event:
        """Run model ``name`` with ``backend`` from the next batch boundary (and call
        ``then`` there, in the loop's thread); the event is set once applied (a later
        change of the same role replaces a staged one)."""
        def change(scorer: BatchScorer) -> str:
            old = scorer.replace(name, backend)
            if then is not None:
                then()
            return f"now version {backend.info.version} (was {old.info.version})"

        return self._stage((name, "serving"), change)

    def candidate(self, name: str, candidate: LoadedCandidate | None) -> threading.Event:
        """Run ``candidate`` (shadow or canary; ``None``: none) beside model ``name``."""
        def change(scorer: BatchScorer) -> str:
            scorer.set_candidate(name, candidate)
            if candidate is None:
                return "no candidate"
            return (f"candidate version {candidate.version.info.version} as {candidate.mode}"
                    + (f" ({candidate.share:.0%})" if candidate.mode == "canary" else ""))

        return self._stage((name, "candidate"), change)

    def _stage(self, key: tuple[str, Role], change: Callable[[BatchScorer], str]
               ) -> threading.Event:
        staged = _Staged(change, threading.Event())
        with self._lock:
            replaced = self._staged.pop(key, None)
            self._staged[key] = staged
        if replaced is not None:
            replaced.applied.set()
        return staged.applied

    def apply(self, scorer: BatchScorer, worker_id: str) -> None:
        """Called by the loop between batches: make every staged change; the sessions
        replaced are dropped here (released with their last reference)."""
        if not self._staged:
            return
        with self._lock:
            staged, self._staged = self._staged, {}
        for (name, _), each in staged.items():
            log.info("%s: model %s: %s", worker_id, name, each.change(scorer))
            each.applied.set()
