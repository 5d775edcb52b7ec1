"""The running models of a pipeline, as a rollout drives them: put a version in a model's
store, load a version to check it, have the workers swap; drift follows the served version."""

from __future__ import annotations

from typing import TYPE_CHECKING

from streaminfer.operators.model_runner import ModelInfo
from streaminfer.operators.profile import Profile
from streaminfer.pipelines.online.assembly import load_model
from streaminfer.pipelines.online.drift_monitor import DriftMonitor, load_profile
from streaminfer.pipelines.online.model_store import ModelStore
from streaminfer.pipelines.online.worker_pool import WorkerPool
from streaminfer.pipelines.rollout.decide import StoredCandidate, StoredModel
from streaminfer.pipelines.spec.schema import ModelSpec

if TYPE_CHECKING:
    from ray.actor import ActorHandle


class LiveModels:
    """A running pipeline's model stores and workers (see ``rollout.swapper.Models``);
    ``drift``: its drift monitor, if drift is on (``features``: the source's feature names)."""

    def __init__(self, stores: dict[str, ActorHandle[ModelStore]], pool: WorkerPool, *,
                 drift: DriftMonitor | None = None,
                 features: tuple[str, ...] | None = None) -> None:
        self.stores = stores
        self.pool = pool
        self.drift = drift
        self.features = features

    def load_info(self, model: ModelSpec, data: bytes) -> ModelInfo:
        """Load a version here once (sha256 checked): what it takes and gives."""
        return load_model(model, data).info

    def load_profile(self, model: ModelSpec, info: ModelInfo) -> Profile | None:
        """The training profile beside a version's file, when drift is on and it fits."""
        if self.drift is None:
            return None
        return load_profile(model, info, self.features)

    def put(self, name: str, stored: StoredModel) -> None:
        """Serve ``stored`` from now on to every worker that (re)starts; drift compares
        its traffic with its own profile, in a window of its own."""
        import ray

        if self.drift is not None:
            self.drift.serve(name, stored.version, stored.profile)
        ray.get(self.stores[name].put.remote(stored))

    def swap_workers(self, name: str, timeout_s: float) -> dict[str, str]:
        return self.pool.swap_model(name, timeout_s)

    def put_candidate(self, name: str, candidate: StoredCandidate | None) -> None:
        """Run ``candidate`` beside model ``name`` in every worker that (re)starts."""
        import ray

        ray.get(self.stores[name].put_candidate.remote(candidate))

    def candidate_workers(self, name: str, timeout_s: float) -> dict[str, str]:
        return self.pool.set_candidate(name, timeout_s)
