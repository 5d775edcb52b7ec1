"""What the driver checks before anything starts: every model loads and fits its config."""

from __future__ import annotations

from streaminfer.operators.model_runner import ModelInfo, read_model_file
from streaminfer.pipelines.lifecycle.resolve import resolve_registry_models
from streaminfer.pipelines.lifecycle.versions import version_label
from streaminfer.pipelines.runtime.assembly import build_scorer, load_model
from streaminfer.pipelines.runtime.model_backends import LocalModel, ModelBackend
from streaminfer.pipelines.spec.schema import PipelineSpec


def check_models(spec: PipelineSpec) -> dict[str, tuple[bytes, ModelInfo]]:
    """Read, verify and load every model, and check they fit the source and routing.

    Returns each model's bytes and what loading it told (by model name).
    """
    models: dict[str, tuple[bytes, ModelInfo]] = {}
    backends: dict[str, ModelBackend] = {}
    for model in spec.model_specs:
        data = read_model_file(model.path, model.sha256)
        local = LocalModel(load_model(model, data))
        models[model.model_name] = (data, local.info)
        backends[model.model_name] = local
    build_scorer(spec, backends)
    return models


def check(spec: PipelineSpec) -> str:
    """Everything ``validate-config`` can check without starting anything: the model files,
    their sha256, that they load and fit the feature mapping. Returns a summary."""
    lines = []
    for _, info in check_models(resolve_registry_models(spec)).values():
        lines.append(
            f"model {info.name} {version_label(info.version)}: "
            f"{info.input_summary()}, outputs "
            f"{', '.join(info.outputs.values())}; providers {', '.join(info.providers)}"
        )
    return "\n".join(lines)
