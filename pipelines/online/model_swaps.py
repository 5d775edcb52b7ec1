"""Model swaps a worker's scoring loop applies at a batch boundary.

Another thread (the actor's ``swap_model`` call) loads the new session off the hot path and
stages it here; the loop thread applies what is staged between two micro-batches, so each
batch is scored by one version, every event once, and the loop never waits for a load.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from streaminfer.pipelines.online.model_backends import ModelBackend
from streaminfer.pipelines.online.scoring import BatchScorer

log = logging.getLogger(__name__)


@dataclass
class _Staged:
    backend: ModelBackend
    applied: threading.Event


class ModelSwaps:
    """Swaps staged by one thread, applied by the scoring loop's; thread safe."""

    def __init__(self) -> None:
        self._staged: dict[str, _Staged] = {}
        self._lock = threading.Lock()

    def stage(self, name: str, backend: ModelBackend) -> threading.Event:
        """Swap model ``name`` to ``backend`` at the next batch boundary; the event is set
        once it is applied (a later stage for the same model replaces this one)."""
        staged = _Staged(backend, threading.Event())
        with self._lock:
            replaced = self._staged.pop(name, None)
            self._staged[name] = staged
        if replaced is not None:
            replaced.applied.set()
        return staged.applied

    def apply(self, scorer: BatchScorer, worker_id: str) -> None:
        """Called by the loop between batches: put every staged backend in place; the old
        sessions are dropped here (their memory is released with the last reference)."""
        if not self._staged:
            return
        with self._lock:
            staged, self._staged = self._staged, {}
        for name, swap in staged.items():
            old = scorer.replace(name, swap.backend)
            log.info("%s: model %s now version %s (was %s)", worker_id, name,
                     swap.backend.info.version, old.info.version)
            del old
            swap.applied.set()
