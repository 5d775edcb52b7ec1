"""Everything a renderer needs, gathered and checked once: pipeline, cluster, plan, layout."""

from __future__ import annotations

from dataclasses import dataclass

from streaminfer.cluster.bundle import PipelineBundle
from streaminfer.cluster.layout import Layout, layout_of
from streaminfer.cluster.plan import ClusterPlan, plan_cluster
from streaminfer.cluster.registry_access import RegistryAccess, registry_access
from streaminfer.cluster.shipping import ShippedModel, ship_models
from streaminfer.cluster.spec import ClusterSpec


@dataclass(frozen=True)
class Deployment:
    """A pipeline planned onto a cluster. ``models`` is empty when the image provides them;
    ``registry``: how the pods reach the registry its ``models:/`` paths name (or ``None``)."""

    bundle: PipelineBundle
    cluster: ClusterSpec
    plan: ClusterPlan
    layout: Layout
    models: tuple[ShippedModel, ...]
    registry: RegistryAccess | None = None

    @property
    def configmap_name(self) -> str:
        return f"{self.plan.name}-pipeline"


def prepare(bundle: PipelineBundle, cluster: ClusterSpec) -> Deployment:
    """Plan ``bundle`` onto ``cluster``; reads (and checks) the model files when they ship,
    and checks that the cluster can reach the registry its ``models:/`` paths name."""
    plan = plan_cluster(bundle, cluster)
    layout = layout_of(bundle)
    registry = registry_access(bundle)
    models = ship_models(bundle, layout) if cluster.ship_model else ()
    return Deployment(bundle=bundle, cluster=cluster, plan=plan, layout=layout, models=models,
                      registry=registry)
