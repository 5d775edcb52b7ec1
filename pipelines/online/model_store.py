"""Where a worker finds its model: the store actor holding the bytes (colocated), or the
Serve deployment running it (serve).

The store holds the version a pipeline serves *now*: a rollout puts the new version there
before it tells the workers to swap, so a worker that Ray restarts (with its original
constructor arguments) loads the promoted version, not the one the pipeline started with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from streaminfer.operators.model_runner import ModelInfo
from streaminfer.operators.profile import Profile
from streaminfer.pipelines.online.assembly import load_model
from streaminfer.pipelines.online.candidates import Candidate
from streaminfer.pipelines.online.model_backends import LocalModel, ModelBackend, ServedModel
from streaminfer.pipelines.rollout.decide import StoredCandidate, StoredModel
from streaminfer.pipelines.spec.schema import ModelSpec

if TYPE_CHECKING:
    from ray.actor import ActorHandle


@dataclass(frozen=True)
class ModelSource:
    """How a worker reaches one model: the store actor holding its bytes (colocated), or
    the Serve deployment running it (serve), with what the driver learnt loading it."""

    info: ModelInfo
    store: str | None = None
    namespace: str = "streaminfer"
    deployment: str | None = None
    app: str | None = None
    profile: Profile | None = None  # its training profile, when drift is on

    def backend(self, model: ModelSpec) -> ModelBackend:
        """Connect, from inside a worker process."""
        if model.serving == "serve":
            from ray import serve

            assert self.deployment is not None
            handle = serve.get_deployment_handle(self.deployment, app_name=self.app)
            return ServedModel(handle, self.info, timeout_s=model.serve.request_timeout_s,
                               retries=model.serve.request_retries)
        return self.load_current(model)

    def _store(self) -> ActorHandle[ModelStore]:
        import ray

        assert self.store is not None
        return ray.get_actor(self.store, namespace=self.namespace)

    def load_current(self, model: ModelSpec) -> LocalModel:
        """A session over the version the store holds now, its sha256 checked."""
        return self.load_served(model)[0]

    def load_served(self, model: ModelSpec) -> tuple[LocalModel, Profile | None]:
        """:meth:`load_current`, and the training profile of that version."""
        import ray

        stored: StoredModel = ray.get(self._store().current.remote())
        return _session(model, stored), self._profile_of(stored.version, stored.profile)

    def current_profile(self) -> Profile | None:
        """The training profile of the version the store holds now (what a (re)starting
        worker counts drift against)."""
        if self.store is None:
            return self.profile
        import ray

        version, profile = ray.get(self._store().current_profile.remote())
        return self._profile_of(version, profile)

    def _profile_of(self, version: str, stored: Profile | None) -> Profile | None:
        """The version the pipeline started with has the profile the driver found (the
        store holds none for it); a version swapped in has its own."""
        return self.profile if version == self.info.version else stored

    def load_candidate(self, model: ModelSpec) -> Candidate | None:
        """The candidate the store holds now (shadow or canary), loaded; or ``None``."""
        import ray

        stored: StoredCandidate | None = ray.get(self._store().candidate.remote())
        if stored is None:
            return None
        return Candidate(_session(model, stored.model), stored.mode, stored.share)


def _session(model: ModelSpec, stored: StoredModel) -> LocalModel:
    return LocalModel(load_model(
        model.model_copy(update={"version": stored.version, "sha256": stored.sha256}),
        stored.data))


class ModelStore:
    """Ray actor holding a pipeline's model bytes, so a (re)started worker can fetch them.

    Workers find it by name: their constructor takes no object reference, which Ray could
    not restore when it restarts them (ray-project/ray#53727).
    """

    def __init__(self, current: StoredModel) -> None:
        self._current = current
        self._candidate: StoredCandidate | None = None

    def get(self) -> bytes:
        return self._current.data

    def current(self) -> StoredModel:
        return self._current

    def current_profile(self) -> tuple[str, Profile | None]:
        """The served version and its training profile (without the bytes)."""
        return self._current.version, self._current.profile

    def put(self, current: StoredModel) -> None:
        """Serve another version from now on (a rollout)."""
        self._current = current

    def candidate(self) -> StoredCandidate | None:
        return self._candidate

    def put_candidate(self, candidate: StoredCandidate | None) -> None:
        """Run this candidate beside the served version from now on (``None``: none)."""
        self._candidate = candidate
