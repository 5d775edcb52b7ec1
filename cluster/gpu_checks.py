"""Warnings about GPUs: asked for and unused, used without being asked for, or not pinned."""

from __future__ import annotations

from streaminfer.cluster.deployment import Deployment
from streaminfer.cluster.plan import GPU_PROVIDERS
from streaminfer.pipelines.spec.schema import ModelSpec, PipelineSpec


def gpu_warnings(d: Deployment) -> list[str]:
    spec, plan = d.bundle.spec, d.plan
    notes = []
    for ref, model in zip(d.bundle.models, spec.model_specs, strict=True):
        gpus, setting = _runner_gpus(spec, model, ref.field)
        explicit = model.providers if isinstance(model.providers, tuple) else None
        if gpus and explicit is not None and not any(p in GPU_PROVIDERS for p in explicit):
            notes.append(
                f"{setting} asks Ray for {gpus:g} GPU, but {ref.field}.providers lists no GPU "
                "provider: that GPU stays idle"
            )
        if not gpus and plan.gpu is not None and explicit is not None and any(
            p in GPU_PROVIDERS for p in explicit
        ):
            notes.append(
                f"{ref.field}.providers lists a GPU provider, but {setting} is 0: Ray may place "
                "it on a CPU node, where the model cannot load; set it (fractions share a GPU)"
            )
    if plan.gpu is not None and not plan.gpu_asked:
        notes.append(
            "gpu_workers.gpus_per_node adds GPU nodes, but nothing in the pipeline asks Ray "
            "for a GPU (serve.num_gpus, workers.num_gpus): no actor is given one"
        )
    if plan.gpu is not None and plan.gpu.accelerator_type and not (
        d.cluster.gpu_workers.node_selector
    ):
        notes.append(
            f"the pipeline asks for {plan.gpu.accelerator_type} GPUs: on Kubernetes set "
            "gpu_workers.node_selector in the cluster description to keep the GPU pods on such "
            "nodes (elsewhere they still claim the accelerator_type resource); with `ray up`, "
            f"pick a launcher.gpu_instance_type with {plan.gpu.accelerator_type} GPUs"
        )
    if plan.spilled:
        notes.append(
            f"{plan.spilled} source worker(s) or replica(s) that need no GPU do not fit "
            "cpu_workers.max_replicas and are planned on GPU nodes"
        )
    return notes


def _runner_gpus(spec: PipelineSpec, model: ModelSpec, field: str) -> tuple[float, str]:
    """GPUs Ray gives whatever runs the model (its replicas, or the source workers), and the
    YAML setting that asks for them."""
    if model.serving == "serve":
        return model.serve.num_gpus, f"{field}.serve.num_gpus"
    return spec.workers.num_gpus, "workers.num_gpus"
