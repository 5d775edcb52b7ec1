"""The ``batch:`` section: how ``streaminfer batch`` scores a dataset on Ray Data."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from streaminfer.pipelines.spec.base import FrozenModel, whole_above_one


class BatchSpec(FrozenModel):
    """Batch inference: a pool of scoring actors over units of the input (files, Parquet row
    groups, chunks of a topic partition), one output part file per unit."""

    actors: int = Field(
        1, ge=1, le=1_024,
        description="Scoring actors in the Ray Data pool; each loads the model once.",
    )
    runner: Literal["auto", "ray", "process"] = Field(
        "auto",
        description="Where the units are scored: `ray` on a Ray Data actor pool; `process` "
        "in the command's own process, one unit after another, with no Ray started (a job "
        "is 3-5 s shorter here; one actor only); `auto`: `process` for one actor without "
        "GPUs when no Ray cluster is named (ray.address, --address, RAY_ADDRESS) and none "
        "runs in this process, else `ray`.",
    )
    num_cpus: float = Field(1.0, ge=0, description="CPUs Ray reserves for each scoring actor.")
    num_gpus: float = Field(
        0.0, ge=0,
        description="GPUs (fractions allowed) Ray reserves for each scoring actor; with "
        "model.providers auto, an actor given a GPU runs the model on CUDA.",
    )
    batch_size: int = Field(
        4_096, ge=1, le=1_048_576, description="Rows in one model call inside an actor."
    )
    unit_rows: int = Field(
        100_000, ge=1,
        description="Rows in one unit of work and of resumption: a topic partition is cut "
        "into chunks of this many offsets, Parquet row groups are joined up to it; a CSV or "
        "JSONL file is always one unit.",
    )
    unit_pictures: int = Field(
        1_000, ge=1, le=1_000_000,
        description="Picture files in one unit of work and of resumption, for a model with "
        "a picture input fed a folder of pictures (.jpg, .jpeg, .png, .webp).",
    )
    _gpus = field_validator("num_gpus")(whole_above_one)
