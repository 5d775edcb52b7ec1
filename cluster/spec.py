"""The cluster description: where and on what a pipeline runs (a small YAML, every key optional).

The pipeline YAML says *what* runs (topics, models, workers, replicas and the resources each
asks for); this says *where*: images, pod sizes, replica bounds, GPUs and the names of
Kubernetes Secrets. Every field has a default, so ``ClusterSpec()`` renders valid manifests.

>>> from streaminfer.cluster.spec import ClusterSpec
>>> ClusterSpec().gpu_workers.gpus_per_node is None  # a GPU group only if the pipeline asks
True
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from streaminfer.pipelines.spec.base import FrozenModel

# A Kubernetes memory quantity: "512Mi", "4Gi", "2G", "1000000".
Memory = Annotated[
    str,
    Field(
        pattern=r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$",
        description="A Kubernetes memory quantity, e.g. 512Mi or 4Gi.",
    ),
]
# A DNS-1123 label short enough for KubeRay's derived names ("<name>-head-svc", ...).
K8sName = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9]([a-z0-9-]{0,48}[a-z0-9])?$",
        description="Lowercase letters, digits and '-', at most 50 characters.",
    ),
]
Image = Annotated[
    str,
    Field(min_length=1, pattern=r"^\S+$", description="A container image reference."),
]


class HeadSpec(FrozenModel):
    """The Ray head pod (or node). It runs the driver and no source workers (0 Ray CPUs)."""

    cpus: int = Field(2, ge=1, le=512, description="CPUs requested for the head pod.")
    memory: Memory = Field("4Gi", description="Memory requested for the head pod.")


class CpuWorkersSpec(FrozenModel):
    """The CPU worker group: source workers and Serve replicas that ask for no GPU."""

    cpus: int = Field(
        2, ge=1, le=512, description="CPUs of one worker pod (Ray's num-cpus on that node)."
    )
    memory: Memory = Field("4Gi", description="Memory of one worker pod.")
    min_replicas: int | None = Field(
        None,
        ge=0,
        le=10_000,
        description="Fewest worker pods; default: as many as the pipeline's fewest workers "
        "and replicas need.",
    )
    max_replicas: int | None = Field(
        None,
        ge=0,
        le=10_000,
        description="Most worker pods (autoscaling ceiling); default: max(min_replicas, what "
        "the most workers and replicas need).",
    )

    @model_validator(mode="after")
    def _min_below_max(self) -> CpuWorkersSpec:
        _check_bounds(self.min_replicas, self.max_replicas)
        return self


class GpuWorkersSpec(FrozenModel):
    """The GPU worker group: rendered when the pipeline asks for GPUs (serve.num_gpus,
    serve.accelerator_type or workers.num_gpus), or when gpus_per_node is more than 0."""

    gpus_per_node: int | None = Field(
        None, ge=0, le=16,
        description="GPUs per GPU worker pod (nvidia.com/gpu); default: the most one replica "
        "or worker asks for (at least 1) when the pipeline asks for GPUs; 0: no GPU group.",
    )
    cpus: int = Field(4, ge=1, le=512, description="CPUs of one GPU worker pod.")
    memory: Memory = Field("16Gi", description="Memory of one GPU worker pod.")
    min_replicas: int | None = Field(
        None, ge=0, le=10_000,
        description="Fewest GPU worker pods; default: as many as the fewest GPU replicas and "
        "workers need (at least 1).",
    )
    max_replicas: int | None = Field(
        None, ge=0, le=10_000,
        description="Most GPU worker pods; default: max(min_replicas, what the most GPU "
        "replicas and workers need).",
    )
    node_selector: dict[str, str] = Field(
        default_factory=dict,
        description="Kubernetes nodeSelector of the GPU pods: pin them to nodes that have the "
        "pipeline's accelerator_type, e.g. {cloud.google.com/gke-accelerator: nvidia-l4} on "
        "GKE or {nvidia.com/gpu.product: NVIDIA-A10G} with NVIDIA GPU feature discovery.",
    )

    @model_validator(mode="after")
    def _min_below_max(self) -> GpuWorkersSpec:
        _check_bounds(self.min_replicas, self.max_replicas)
        return self


class LauncherSpec(FrozenModel):
    """Settings used only for the `ray up` cluster launcher YAML (AWS provider)."""

    region: str = Field("us-west-2", min_length=1, description="AWS region of the cluster.")
    head_instance_type: str = Field(
        "m5.large", min_length=1, description="EC2 instance type of the head node."
    )
    cpu_instance_type: str = Field(
        "m5.large",
        min_length=1,
        description="EC2 instance type of CPU workers; should have cpu_workers.cpus vCPUs.",
    )
    gpu_instance_type: str = Field(
        "g5.xlarge",
        min_length=1,
        description="EC2 instance type of GPU workers; should have gpu_workers.gpus_per_node "
        "GPUs (of the pipeline's accelerator_type, if it names one) and gpu_workers.cpus vCPUs.",
    )
    ssh_user: str = Field("ubuntu", min_length=1, description="SSH user of the node image.")
    idle_timeout_minutes: int = Field(
        5, ge=1, le=10_080, description="Minutes an idle worker node lives before removal."
    )


class ClusterSpec(FrozenModel):
    """Where a pipeline runs: images, pod sizes, replica bounds, GPUs, Secret names."""

    name: K8sName | None = Field(
        None, description="Name of the Ray cluster and its Kubernetes objects; default: the "
        "pipeline's name."
    )
    namespace: K8sName = Field("default", description="Kubernetes namespace of the objects.")
    image: Image = Field(
        "streaminfer:cpu", description="Image of the head and CPU workers (docker/Dockerfile.cpu)."
    )
    gpu_image: Image = Field(
        "streaminfer:gpu", description="Image of the GPU workers (docker/Dockerfile.gpu)."
    )
    head: HeadSpec = Field(default_factory=HeadSpec, description="The head pod.")
    cpu_workers: CpuWorkersSpec = Field(
        default_factory=CpuWorkersSpec, description="The CPU worker group."
    )
    gpu_workers: GpuWorkersSpec = Field(
        default_factory=GpuWorkersSpec,
        description="The GPU worker group (when the pipeline asks for GPUs, or gpus_per_node>0).",
    )
    kafka_secret_name: K8sName = Field(
        "kafka-credentials",
        description="Kubernetes Secret holding the Kafka secrets, one key per environment "
        "variable named in kafka.security.*_env (key = the variable's name).",
    )
    kafka_tls_secret_name: K8sName | None = Field(
        None,
        description="Kubernetes Secret holding the TLS files named in kafka.security.ssl_* "
        "(key = the file's name); mounted at the paths the pipeline YAML names.",
    )
    registry_secret_name: K8sName = Field(
        "mlflow-credentials",
        description="Kubernetes Secret the pods take MLFLOW_TRACKING_URI from (when the "
        "pipeline names models:/... and its YAML no registry.tracking_uri) and, if it has "
        "them, MLFLOW_TRACKING_USERNAME, MLFLOW_TRACKING_PASSWORD, MLFLOW_TRACKING_TOKEN.",
    )
    ship_model: bool = Field(
        True,
        description="Put the model files in the ConfigMap (at most about 700 KiB together); "
        "false: the image or a volume must provide each at the path the pipeline YAML names.",
    )
    pip: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=lambda: ["streaminfer"],
        description="pip requirements the launcher's setup commands install on every node "
        "(already satisfied in the streaminfer images).",
    )
    launcher: LauncherSpec = Field(
        default_factory=LauncherSpec, description="`ray up` (cluster launcher) settings."
    )


def _check_bounds(low: int | None, high: int | None) -> None:
    if low is not None and high is not None and low > high:
        raise ValueError(f"min_replicas ({low}) is more than max_replicas ({high})")
