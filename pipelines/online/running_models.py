"""The running models of a pipeline, as a rollout drives them: put a version in a model's
store, load a version to check it, have the workers swap; drift follows the serving version.

On Ray Serve, a model's new version is deployed as a Serve application of its own beside
the serving one; once every worker has moved its handle to it (at a batch boundary) and no call to
the old one is outstanding, the HTTP endpoint is moved too and the old application deleted.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from streaminfer.operators.model_runner import ModelInfo
from streaminfer.operators.profile import Profile
from streaminfer.pipelines.lifecycle.versions import Candidate, Version
from streaminfer.pipelines.online.drift_monitor import DriftMonitor, load_profile
from streaminfer.pipelines.runtime.assembly import load_model
from streaminfer.pipelines.runtime.model_store import ModelStore, ServedVersion
from streaminfer.pipelines.runtime.worker_pool import WorkerPool
from streaminfer.pipelines.spec.schema import ModelSpec

if TYPE_CHECKING:
    from ray.actor import ActorHandle

log = logging.getLogger(__name__)


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
        self.infos = {name: source.info for name, source in pool.sources.items()}
        #: The Serve application running each model on Ray Serve now, by model name.
        self.apps = {name: source.app for name, source in pool.sources.items()
                     if source.app is not None}

    def load_info(self, model: ModelSpec, data: bytes) -> ModelInfo:
        """Load a version here once (sha256 checked): what it takes and gives."""
        return load_model(model, data).info

    def load_profile(self, model: ModelSpec, info: ModelInfo) -> Profile | None:
        """The training profile beside a version's file, when drift is on and it fits."""
        if self.drift is None:
            return None
        return load_profile(model, info, self.features)

    def put(self, name: str, version: Version, info: ModelInfo) -> None:
        """Run ``version`` (``info``: what it takes and gives) from now on in every worker
        that (re)starts; on Serve, deploy its application first. Drift compares its traffic
        with its own profile, in a window of its own."""
        import ray

        if self.drift is not None:
            self.drift.serve(name, version.label, version.profile)
        store = self.stores[name]
        ray.get(store.put.remote(version))
        if name in self.apps:
            from streaminfer.pipelines.runtime import serving

            source = self.pool.sources[name]
            assert source.store is not None
            model = self._spec(name).model_copy(update={"version": version.label,
                                                        "sha256": version.sha256})
            try:
                app = serving.deploy_version(self.pool.spec, model, source.store,
                                             version.label,
                                             self.pool.spec.rollout.swap_timeout_s)
            except BaseException:
                ray.get(store.revert.remote())  # the old version runs on, from the store too
                raise
            ray.get(store.put_served.remote(ServedVersion(app, info, version.profile)))
        self.infos[name] = info

    def swap_workers(self, name: str, timeout_s: float) -> dict[str, str]:
        answers = self.pool.swap_model(name, timeout_s)
        if name in self.apps:
            self._retire_app(name, answers)
        return answers

    def _retire_app(self, name: str, answers: dict[str, str]) -> None:
        """Once every worker calls the new application: move the HTTP endpoint to it and
        delete the old one. Else both stay (a worker may still call the old one)."""
        import ray

        from streaminfer.pipelines.runtime import serving

        served: ServedVersion | None = ray.get(self.stores[name].served.remote())
        old = self.apps[name]
        if served is None or served.app == old:
            return
        version = self.infos[name].version
        if any(answer != version for answer in answers.values()):
            log.warning("model %s: application %s stays until every worker runs version %s",
                        name, old, version)
            return
        spec = self.pool.spec
        self.apps[name] = served.app
        if spec.http.enabled:
            serving.deploy_http(spec, self.infos, self.apps)
        serving.delete_apps([old])

    def _spec(self, name: str) -> ModelSpec:
        return next(m for m in self.pool.spec.model_specs if m.model_name == name)

    def put_candidate(self, name: str, candidate: Candidate[Version] | None) -> None:
        """Run ``candidate`` beside model ``name`` in every worker that (re)starts."""
        import ray

        ray.get(self.stores[name].put_candidate.remote(candidate))

    def candidate_workers(self, name: str, timeout_s: float) -> dict[str, str]:
        return self.pool.set_candidate(name, timeout_s)
