"""What a pipeline asks Ray for: each kind of actor it starts, its resources and how many.

Source workers reserve ``workers.num_cpus`` / ``num_gpus`` each; between ``count`` (at start)
and, with ``workers.autoscale``, ``min_workers``..``max_workers``. Every model with
``serving: serve`` runs ``min_replicas``..``max_replicas`` Serve replicas of ``serve.num_cpus``
/ ``num_gpus`` (and ``accelerator_type``) each, ``initial_replicas`` at start. With
``http.enabled`` one more Serve replica, the HTTP ingress, takes a tenth of a CPU. With
``feedback``, ``feedback.joiners.count`` joiners of ``joiners.num_cpus`` each. Everything
else (the driver, the model stores, Serve's controller and proxies) reserves nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from streaminfer.cluster.bundle import PipelineBundle
from streaminfer.errors import ConfigError
from streaminfer.pipelines.spec.model_spec import HTTP_INGRESS_CPUS


@dataclass(frozen=True)
class Demand:
    """Identical actors: resources of one, and how many run at least, at start and at most."""

    what: str  # "source worker(s)", "replica(s) of fraud-mlp", "HTTP ingress"
    field: str  # where the YAML sets the resources: "workers", "model.serve", "models[1].serve"
    cpus: float
    gpus: float
    accelerator_type: str | None
    floor: int
    start: int
    ceiling: int

    @property
    def on_gpu_nodes(self) -> bool:
        """Whether only a GPU node can hold it (GPUs, or a node of an accelerator type)."""
        return self.gpus > 0 or self.accelerator_type is not None

    def count(self, level: str) -> int:
        """How many run at ``level``: "floor", "start" or "ceiling"."""
        value: int = getattr(self, level)
        return value


def pipeline_demands(bundle: PipelineBundle) -> list[Demand]:
    """Every kind of actor the pipeline reserves resources for (refuses what Ray refuses)."""
    spec = bundle.spec
    workers, scale = spec.workers, spec.workers.autoscale
    demands = [Demand(
        what="source worker(s)", field="workers", cpus=workers.num_cpus,
        gpus=workers.num_gpus, accelerator_type=None,
        floor=min(scale.min_workers, workers.count) if scale.enabled else workers.count,
        start=workers.count,
        ceiling=max(scale.max_workers, workers.count) if scale.enabled else workers.count,
    )]
    for ref, model in zip(bundle.models, spec.model_specs, strict=True):
        if model.serving != "serve":
            continue
        serve = model.serve
        demands.append(Demand(
            what=f"replica(s) of {ref.name}", field=f"{ref.field}.serve", cpus=serve.num_cpus,
            gpus=serve.num_gpus, accelerator_type=serve.accelerator_type,
            floor=serve.min_replicas, start=serve.initial_replicas or serve.min_replicas,
            ceiling=serve.max_replicas,
        ))
    if spec.http.enabled:
        demands.append(Demand(
            what="HTTP ingress", field="http", cpus=HTTP_INGRESS_CPUS, gpus=0.0,
            accelerator_type=None, floor=1, start=1, ceiling=1,
        ))
    if spec.feedback is not None:
        joiners = spec.feedback.joiners
        demands.append(Demand(
            what="feedback joiner(s)", field="feedback.joiners", cpus=joiners.num_cpus,
            gpus=0.0, accelerator_type=None, floor=joiners.count, start=joiners.count,
            ceiling=joiners.count,
        ))
    return demands  # the spec refuses fractional GPU counts above one


def accelerator_type(demands: list[Demand]) -> str | None:
    """The one accelerator type GPU nodes must have, if any asks for one."""
    types = sorted({d.accelerator_type for d in demands if d.accelerator_type})
    if len(types) > 1:
        asking = ", ".join(f"{d.field}.accelerator_type {d.accelerator_type}"
                           for d in demands if d.accelerator_type)
        raise ConfigError(
            f"the pipeline asks for more than one accelerator type ({asking}); the rendered "
            "cluster has one GPU worker group, of one type: ask for the same type everywhere"
        )
    return types[0] if types else None
