"""The source workers' part of the pipeline YAML: how many, their resources, restarts, the
crash-loop rule and lag-driven scaling (``workers:``)."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from streaminfer.pipelines.spec.base import FrozenModel, whole_above_one


class WorkerAutoscaleSpec(FrozenModel):
    """Scale source workers on consumer lag, between min_workers and max_workers."""

    enabled: bool = Field(False, description="Scale workers on lag (else workers.count).")
    min_workers: int = Field(1, ge=1, le=1_024, description="Fewest workers.")
    max_workers: int = Field(
        4, ge=1, le=1_024, description="Most workers (never more than the source partitions)."
    )
    target_lag_per_worker: int = Field(
        1_000, ge=1,
        description="Records of lag one worker should carry; more adds workers.",
    )
    scale_down_below: float = Field(
        0.2, ge=0, lt=1,
        description="Remove a worker when lag per worker is under this share of the target "
        "(hysteresis: between the two, nothing changes).",
    )
    interval_s: float = Field(2.0, gt=0, le=600, description="How often lag is measured.")
    scale_up_cooldown_s: float = Field(
        10.0, ge=0, description="Least time after any change before adding workers."
    )
    scale_down_cooldown_s: float = Field(
        30.0, ge=0, description="Least time after any change before removing a worker."
    )
    stuck_after_s: float = Field(
        30.0, gt=0,
        description="A partition whose committed offset has not moved this long while it "
        "has lag is reported as stuck and not counted (more workers would not help it).",
    )

    @model_validator(mode="after")
    def _bounds(self) -> WorkerAutoscaleSpec:
        if self.min_workers > self.max_workers:
            raise ValueError("min_workers is more than max_workers")
        return self


class CrashLoopSpec(FrozenModel):
    """When workers that crash the same way again and again stop the pipeline."""

    max_crashes: int = Field(
        3, ge=0, le=1_000,
        description="Stop the pipeline (one line naming the error) once workers crashed this "
        "many times with the same error within window_s; 0: never stop, let Ray restart them "
        "up to max_restarts.",
    )
    window_s: float = Field(
        60.0, gt=0, le=86_400,
        description="The window, in seconds, over which crashes of the same error are counted.",
    )


class WorkersSpec(FrozenModel):
    """Source workers: Ray actors that each own a share of the partitions."""

    count: int = Field(1, ge=1, le=1_024, description="Number of source worker actors.")
    num_cpus: float = Field(1.0, ge=0, description="CPUs Ray reserves for each worker.")
    num_gpus: float = Field(
        0.0, ge=0,
        description="GPUs (fractions allowed) Ray reserves for each worker; with model.providers "
        "auto, a worker given a GPU runs the model on CUDA in-process.",
    )
    max_restarts: int = Field(
        3, ge=-1, description="Times Ray restarts a worker that died (-1: without limit)."
    )
    _gpus = field_validator("num_gpus")(whole_above_one)
    crash_loop: CrashLoopSpec = Field(
        default_factory=CrashLoopSpec,
        description="Workers crashing with the same error again and again stop the pipeline.",
    )
    autoscale: WorkerAutoscaleSpec = Field(
        default_factory=WorkerAutoscaleSpec,
        description="Lag-driven scaling; when enabled, count is the number to start with.",
    )
