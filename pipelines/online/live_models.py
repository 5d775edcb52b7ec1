"""The running models of a pipeline, as a rollout drives them: put a version in a model's
store, load a version to check it, have the workers swap."""

from __future__ import annotations

from typing import TYPE_CHECKING

from streaminfer.operators.model_runner import ModelInfo
from streaminfer.pipelines.online.assembly import load_model
from streaminfer.pipelines.online.model_store import ModelStore
from streaminfer.pipelines.online.worker_pool import WorkerPool
from streaminfer.pipelines.rollout.decide import StoredCandidate, StoredModel
from streaminfer.pipelines.spec.schema import ModelSpec

if TYPE_CHECKING:
    from ray.actor import ActorHandle


class LiveModels:
    """A running pipeline's model stores and workers (see ``rollout.swapper.Models``)."""

    def __init__(self, stores: dict[str, ActorHandle[ModelStore]], pool: WorkerPool) -> None:
        self.stores = stores
        self.pool = pool

    def load_info(self, model: ModelSpec, data: bytes) -> ModelInfo:
        """Load a version here once (sha256 checked): what it takes and gives."""
        return load_model(model, data).info

    def put(self, name: str, stored: StoredModel) -> None:
        """Serve ``stored`` from now on to every worker that (re)starts."""
        import ray

        ray.get(self.stores[name].put.remote(stored))

    def swap_workers(self, name: str, timeout_s: float) -> dict[str, str]:
        return self.pool.swap_model(name, timeout_s)

    def put_candidate(self, name: str, candidate: StoredCandidate | None) -> None:
        """Run ``candidate`` beside model ``name`` in every worker that (re)starts."""
        import ray

        ray.get(self.stores[name].put_candidate.remote(candidate))

    def candidate_workers(self, name: str, timeout_s: float) -> dict[str, str]:
        return self.pool.set_candidate(name, timeout_s)
