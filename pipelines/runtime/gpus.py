"""The GPUs Ray gave this process, and hiding the others from ONNX Runtime.

Ray (2.60+) leaves a node's GPUs visible to actors that asked for none; an actor with
``num_gpus: 0`` must still run on the CPU, so the runtime empties ``CUDA_VISIBLE_DEVICES``
there before a model loads (``operators/providers.py`` reads it).
"""

from __future__ import annotations

import os

import ray

from streaminfer.operators.providers import cuda_status


def ray_gpus() -> list[str] | None:
    """The GPUs Ray assigned to this process if it is a Ray task or actor, else ``None``."""
    if not ray.is_initialized():
        return None
    context = ray.get_runtime_context()
    if context.worker.mode != ray.WORKER_MODE:  # the driver: nothing is assigned to it
        return None
    return [str(gpu) for gpu in context.get_accelerator_ids().get("GPU", [])]


def hide_unassigned_gpus() -> None:
    """In a Ray task or actor that was given no GPU, make every GPU invisible to CUDA."""
    if ray_gpus() == [] and os.environ.get("CUDA_VISIBLE_DEVICES") != "":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
        cuda_status.cache_clear()
