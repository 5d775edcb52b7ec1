"""One hot swap, driven from the driver: fetch the version, check it, hand it to the workers.

In order: download the version (sha256 checked against the registry), load it here once (a
broken or misfit model stops here, not in N workers), put it in the model's store actor
(so a worker Ray restarts from now on loads it), then tell each worker to swap at its next
batch boundary.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Protocol

from streaminfer.operators.model_runner import ModelInfo, read_model_file
from streaminfer.operators.profile import Profile
from streaminfer.pipelines.lifecycle.registry import ModelVersion, Registry
from streaminfer.pipelines.lifecycle.swap_rule import check_same_input
from streaminfer.pipelines.lifecycle.versions import Candidate, Version
from streaminfer.pipelines.spec.schema import ModelSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SwapRecord:
    """One swap a running pipeline made."""

    model: str
    from_version: str
    to_version: str
    started_s: float  # time.time() when the driver saw the alias move
    done_s: float  # when every worker had applied it (or answered why not)
    workers: dict[str, str] = field(default_factory=dict)  # worker -> version, or why not


class Models(Protocol):
    """A running pipeline's models (``pipelines.online.live_models.LiveModels``)."""

    def load_info(self, model: ModelSpec, data: bytes) -> ModelInfo: ...

    def load_profile(self, model: ModelSpec, info: ModelInfo) -> Profile | None: ...

    def put(self, name: str, version: Version, info: ModelInfo) -> None: ...

    def swap_workers(self, name: str, timeout_s: float) -> dict[str, str]: ...

    def put_candidate(self, name: str, candidate: Candidate[Version] | None) -> None: ...

    def candidate_workers(self, name: str, timeout_s: float) -> dict[str, str]: ...


class Swapper:
    """Swaps the models of one running pipeline."""

    def __init__(self, registry: Registry, models: dict[str, ModelSpec],
                 infos: dict[str, ModelInfo], live: Models, timeout_s: float) -> None:
        self.registry = registry
        self.models = models  # by model name, as resolved at start
        self.infos = dict(infos)  # what the version each model runs takes
        self.live = live
        self.timeout_s = timeout_s

    def _checked(self, name: str, version: ModelVersion) -> tuple[Version, ModelInfo]:
        """Download ``version`` (sha256 checked), load it here once, check its input; its
        training profile (downloaded beside it) comes with it."""
        path = self.registry.fetch(version)  # sha256 checked against the registry's
        data = read_model_file(path, version.sha256)
        model = self.models[name].model_copy(update={
            "path": path, "sha256": version.sha256, "version": version.version})
        info = self.live.load_info(model, data)
        check_same_input(name, info, self.infos[name])
        profile = self.live.load_profile(model, info)
        return Version(version.version, version.sha256, data, profile), info

    def swap(self, name: str, version: ModelVersion) -> SwapRecord:
        """Run ``version`` as model ``name`` from each worker's next batch boundary."""
        started = time.time()
        was = self.infos[name]
        checked, info = self._checked(name, version)
        self.live.put(name, checked, info)
        self.infos[name] = info
        answers = self.live.swap_workers(name, self.timeout_s)
        record = SwapRecord(name, was.version, version.version, started, time.time(), answers)
        late = {w: a for w, a in answers.items() if a != version.version}
        log.info("model %s: version %s -> %s on %d worker(s) in %.2fs", name, was.version,
                 version.version, len(answers) - len(late), record.done_s - started)
        if late:
            log.warning("model %s: worker(s) not on version %s yet: %s (a restarted worker "
                        "loads it on start)", name, version.version,
                        "; ".join(f"{w}: {a}" for w, a in late.items()))
        return record

    def run_candidate(self, name: str, wanted: Candidate[str] | None,
                      version: ModelVersion | None) -> dict[str, str]:
        """Run ``wanted`` (``version`` is its registry entry) beside model ``name`` in every
        worker, or no candidate; worker -> what it runs."""
        checked = None
        if wanted is not None:
            assert version is not None
            checked = wanted.holding(self._checked(name, version)[0])
        self.live.put_candidate(name, checked)
        answers = self.live.candidate_workers(name, self.timeout_s)
        log.info("model %s: candidate %s on %s", name,
                 "none" if wanted is None else f"{wanted.mode} version {wanted.version}"
                 + (f" ({wanted.share:.0%} of events)" if wanted.mode == "canary" else ""),
                 "; ".join(f"{w}: {a}" for w, a in answers.items()))
        return answers
