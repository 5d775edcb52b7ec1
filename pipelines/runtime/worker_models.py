"""A worker's side of a rollout: load what the model's store holds now (off the scoring
loop) and stage it for the loop's next batch boundary."""

from __future__ import annotations

from streaminfer.errors import StreamInferError
from streaminfer.operators.drift import DriftTally
from streaminfer.pipelines.runtime.model_store import ModelLocator
from streaminfer.pipelines.runtime.model_swaps import ModelSwaps
from streaminfer.pipelines.runtime.scoring import BatchScorer
from streaminfer.pipelines.spec.schema import ModelSpec, PipelineSpec
from streaminfer.waiting import wait_until


def load_candidates(scorer: BatchScorer, spec: PipelineSpec,
                    models: dict[str, ModelLocator]) -> None:
    """Before the loop starts: the candidates the stores hold (after a restart too)."""
    for model in spec.model_specs:
        if model.serving != "serve":
            candidate = models[model.model_name].load_candidate(model)
            if candidate is not None:
                scorer.check_replacement(model.model_name, candidate.version)
                scorer.set_candidate(model.model_name, candidate)


def swap_to_current(scorer: BatchScorer, swaps: ModelSwaps, drift: DriftTally, model: ModelSpec,
                locator: ModelLocator, timeout_s: float) -> str:
    """Run the store's version (on Ray Serve: call the application deployed for it) from the
    next batch boundary, its drift counted against its own training profile from there; the
    version now serving. On Ray Serve, it returns once no call to the replaced version is
    outstanding, so its application can go without failing a batch."""
    name = model.model_name
    current = scorer.backends[name]
    backend, profile = locator.load_current(model)
    if (backend.info.sha256, backend.info.version) == (current.info.sha256,
                                                        current.info.version):
        return current.info.version
    scorer.check_replacement(name, backend)
    if not swaps.replace(name, backend, lambda: drift.use(name, profile)).wait(timeout_s):
        raise StreamInferError(f"model {name}: the swap was not applied within "
                               f"{timeout_s:.0f}s")
    if not wait_until(lambda: getattr(current, "outstanding", 0) == 0, timeout_s, every_s=0.01):
        raise StreamInferError(f"model {name}: calls to version {current.info.version} still "
                               f"unanswered {timeout_s:.0f}s after the swap")
    return scorer.backends[name].info.version


def sync_candidate(scorer: BatchScorer, swaps: ModelSwaps, model: ModelSpec,
                   locator: ModelLocator, timeout_s: float) -> str:
    """Run the store's candidate (or none) from the next batch boundary; what runs."""
    name = model.model_name
    if model.serving == "serve":
        return "none (served by Ray Serve)"
    candidate = locator.load_candidate(model)
    if candidate is not None:
        scorer.check_replacement(name, candidate.version)
    if not swaps.candidate(name, candidate).wait(timeout_s):
        raise StreamInferError(f"model {name}: the candidate was not applied within "
                               f"{timeout_s:.0f}s")
    if candidate is None:
        return "none"
    return f"{candidate.mode} {candidate.version.info.version}"
