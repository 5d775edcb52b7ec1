"""Where a worker finds its model: the store actor holding the bytes (colocated), or the
Ray Serve deployment running it (``serving: serve``).

The store holds the version a pipeline runs *now*: a rollout puts the new version there
(and, on Ray Serve, the application it deployed for it) before it tells the workers to swap, so a
worker that Ray restarts (with its original constructor arguments) loads, or calls, the
promoted version, not the one the pipeline started with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from streaminfer.operators.model_runner import ModelInfo
from streaminfer.operators.profile import Profile
from streaminfer.pipelines.lifecycle.versions import Candidate, Version
from streaminfer.pipelines.runtime.assembly import load_model
from streaminfer.pipelines.runtime.candidates import LoadedCandidate
from streaminfer.pipelines.runtime.model_backends import LocalModel, ModelBackend, ServedModel
from streaminfer.pipelines.spec.schema import ModelSpec

if TYPE_CHECKING:
    from ray.actor import ActorHandle


@dataclass(frozen=True)
class ServedVersion:
    """A version a rollout deployed for a model on Ray Serve: its Serve application, what it takes
    and gives, and its training profile."""

    app: str
    info: ModelInfo
    profile: Profile | None = None


@dataclass(frozen=True)
class ModelLocator:
    """How a worker reaches one model: the store actor holding its bytes (and, on Ray Serve, the
    version a rollout deployed), and for ``serve`` the Serve deployment running it, with
    what the driver learnt loading it."""

    info: ModelInfo
    store: str | None = None
    namespace: str = "streaminfer"
    deployment: str | None = None
    app: str | None = None
    profile: Profile | None = None  # its training profile, when drift is on

    def _store(self) -> ActorHandle[ModelStore]:
        import ray

        assert self.store is not None
        return ray.get_actor(self.store, namespace=self.namespace)

    def load_current(self, model: ModelSpec) -> tuple[ModelBackend, Profile | None]:
        """The version the pipeline runs now (colocated: a session over the store's bytes;
        on Ray Serve: a handle on its application) and its training profile."""
        import ray

        if model.serving == "serve":
            served: ServedVersion | None = (
                ray.get(self._store().served.remote()) if self.store is not None else None)
            if served is None:
                return self._replicas(model, self.app, self.info), self.profile
            return self._replicas(model, served.app, served.info), served.profile
        current: Version = ray.get(self._store().current.remote())
        profile = self.profile if current.label == self.info.version else current.profile
        return _session(model, current), profile

    def _replicas(self, model: ModelSpec, app: str | None, info: ModelInfo) -> ServedModel:
        from ray import serve

        assert self.deployment is not None
        handle = serve.get_deployment_handle(self.deployment, app_name=app)
        return ServedModel(handle, info, timeout_s=model.serve.request_timeout_s,
                           retries=model.serve.request_retries)

    def load_candidate(self, model: ModelSpec) -> LoadedCandidate | None:
        """The candidate the store holds now (shadow or canary), loaded; or ``None``."""
        import ray

        held: Candidate[Version] | None = ray.get(self._store().candidate.remote())
        if held is None:
            return None
        return held.holding(_session(model, held.version))


def _session(model: ModelSpec, version: Version) -> LocalModel:
    return LocalModel(load_model(
        model.model_copy(update={"version": version.label, "sha256": version.sha256}),
        version.data))


class ModelStore:
    """Ray actor holding a pipeline's model bytes, so a (re)started worker can fetch them.

    Workers find it by name: their constructor takes no object reference, which Ray could
    not restore when it restarts them (ray-project/ray#53727).
    """

    def __init__(self, current: Version) -> None:
        self._current = current
        self._previous: Version | None = None
        self._candidate: Candidate[Version] | None = None
        self._served: ServedVersion | None = None

    def get(self) -> bytes:
        return self._current.data

    def get_version(self, version: str) -> bytes | None:
        """The bytes of ``version`` if it is the current or the previous one (a replica of
        the application being replaced may restart while the workers move)."""
        for held in (self._current, self._previous):
            if held is not None and held.label == version:
                return held.data
        return None

    def current(self) -> Version:
        return self._current

    def put(self, current: Version) -> None:
        """Run another version from now on (a rollout)."""
        self._previous, self._current = self._current, current

    def revert(self) -> None:
        """Undo the last :meth:`put` (a version whose Serve application did not start)."""
        if self._previous is not None:
            self._current, self._previous = self._previous, None

    def served(self) -> ServedVersion | None:
        """The application a rollout deployed for a model on Ray Serve (``None``: the first)."""
        return self._served

    def put_served(self, served: ServedVersion) -> None:
        self._served = served

    def candidate(self) -> Candidate[Version] | None:
        return self._candidate

    def put_candidate(self, candidate: Candidate[Version] | None) -> None:
        """Run this candidate beside the serving version from now on (``None``: none)."""
        self._candidate = candidate
