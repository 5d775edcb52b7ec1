"""Everything a renderer needs, gathered and checked once: pipeline, cluster, plan, layout."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from streaminfer.cluster.bundle import PipelineBundle
from streaminfer.cluster.layout import Layout, layout_of
from streaminfer.cluster.plan import ClusterPlan, plan_cluster
from streaminfer.cluster.spec import ClusterSpec
from streaminfer.errors import ConfigError

# etcd refuses objects over 1 MiB; leave room for the YAML text and the object's metadata.
CONFIGMAP_LIMIT = 1_000_000
MODEL_KEY = "model.onnx"
PIPELINE_KEY = "pipeline.yaml"


@dataclass(frozen=True)
class Deployment:
    """A pipeline planned onto a cluster. ``model`` is None when the image provides it."""

    bundle: PipelineBundle
    cluster: ClusterSpec
    plan: ClusterPlan
    layout: Layout
    model: bytes | None

    @property
    def configmap_name(self) -> str:
        return f"{self.plan.name}-pipeline"


def prepare(bundle: PipelineBundle, cluster: ClusterSpec) -> Deployment:
    """Plan ``bundle`` onto ``cluster``; reads (and size-checks) the model when it ships."""
    plan = plan_cluster(bundle.spec, cluster)
    layout = layout_of(bundle)
    model = None
    if cluster.ship_model:
        model = bundle.model_bytes()
        size = len(base64.b64encode(model)) + len(bundle.text.encode())
        if size > CONFIGMAP_LIMIT:
            raise ConfigError(
                f"{bundle.model_file} is {len(model):,} bytes: too large for a ConfigMap "
                f"(about 700 KiB of model at most); set ship_model: false in the cluster "
                f"description and bake the model into the image (or mount a volume) at "
                f"{layout.model}"
            )
    return Deployment(bundle=bundle, cluster=cluster, plan=plan, layout=layout, model=model)
