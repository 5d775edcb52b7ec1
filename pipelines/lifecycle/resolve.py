"""A pipeline's ``models:/NAME@ALIAS`` paths made into local files with their sha256.

The driver calls :func:`resolve_registry_models` when the pipeline starts: each registry
reference is resolved once, its ONNX file downloaded (and checked), and the model's spec
rewritten to that file with ``sha256`` set, so every worker that loads it checks it again.
A pipeline without registry references never imports MLflow.
"""

from __future__ import annotations

from streaminfer.errors import ConfigError
from streaminfer.pipelines.lifecycle.registry import Registry
from streaminfer.pipelines.spec.schema import ModelSpec, PipelineSpec


def resolve_registry_models(
    spec: PipelineSpec, registry: Registry | None = None
) -> PipelineSpec:
    """``spec`` with every ``models:/...`` path replaced by the downloaded version's file,
    its sha256, and (unless the YAML sets them) the registered name and version number."""
    if not any(m.registry_ref for m in spec.model_specs):
        return spec
    registry = registry or Registry.from_spec(spec.registry)

    def resolved(model: ModelSpec) -> ModelSpec:
        ref = model.registry_ref
        if ref is None:
            return model
        version = registry.resolve_ref(ref)
        if model.sha256 is not None and model.sha256.lower() != version.sha256:
            raise ConfigError(f"model {model.model_name}: model.sha256 is {model.sha256}, but "
                              f"{ref} (version {version.version}) has {version.sha256}; "
                              "remove model.sha256 or pin the version")
        return model.model_copy(update={
            "path": registry.fetch(version), "sha256": version.sha256,
            "name": model.name or ref.name, "version": model.version or version.version,
        })

    return spec.model_copy(update={
        "model": resolved(spec.model) if spec.model else None,
        "models": tuple(resolved(m) for m in spec.models) if spec.models else None,
    })
