"""Choose ONNX Runtime execution providers by what this machine can actually use.

A process that was given no GPU (a Ray actor with ``num_gpus: 0``) is told so by an empty
``CUDA_VISIBLE_DEVICES``: the runtime sets it (``pipelines/runtime/gpus.py``); the core reads it.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from streaminfer.errors import DeviceError

log = logging.getLogger(__name__)

CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"
CPU = "CPUExecutionProvider"


@dataclass(frozen=True)
class CudaStatus:
    """Whether the CUDA provider can run here, and why not when it cannot."""

    usable: bool
    reason: str


@dataclass(frozen=True)
class ProviderChoice:
    """The providers to open a session with, and the one-line reason for the choice."""

    providers: list[str]
    reason: str


def choose_providers(
    requested: str | Sequence[str], available: list[str], cuda: CudaStatus
) -> ProviderChoice:
    """Pure choice logic: ``requested`` is ``"auto"`` or an explicit list from the config.

    >>> choose_providers("auto", [CUDA, CPU], CudaStatus(False, "no GPU")).providers
    ['CPUExecutionProvider']
    """
    if requested == "auto":
        if CUDA in available and cuda.usable:
            return ProviderChoice([CUDA, CPU], f"CUDA: {cuda.reason}")
        why = cuda.reason if CUDA in available else "this onnxruntime build has no CUDA provider"
        return ProviderChoice([CPU], f"CPU: {why}")
    wanted = [requested] if isinstance(requested, str) else list(requested)
    for name in wanted:
        if name not in available:
            raise DeviceError(
                f"model.providers asks for {name}, which this onnxruntime build lacks "
                f"(it has {', '.join(available)}); use providers: auto"
            )
        if name in (CUDA, TENSORRT) and not cuda.usable:
            raise DeviceError(
                f"model.providers asks for {name} but CUDA is not usable here: {cuda.reason}; "
                "use providers: auto to fall back to the CPU"
            )
    if CPU not in wanted:
        wanted.append(CPU)
    return ProviderChoice(wanted, "as configured")


@lru_cache(maxsize=1)
def cuda_status() -> CudaStatus:
    """Probe the driver, a visible device and the CUDA libraries, without loading ORT's CUDA EP."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return CudaStatus(False, "no GPU assigned (CUDA_VISIBLE_DEVICES is empty)")
    try:
        driver = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return CudaStatus(False, "no NVIDIA driver (libcuda.so.1 not found)")
    count = ctypes.c_int(0)
    if driver.cuInit(0) != 0 or driver.cuDeviceGetCount(ctypes.byref(count)) != 0:
        return CudaStatus(False, "the NVIDIA driver found no usable GPU")
    if count.value == 0:
        return CudaStatus(False, "no GPU visible")
    missing = _missing_cuda_libraries()
    if missing:
        return CudaStatus(
            False,
            f"{count.value} GPU(s) but {', '.join(missing)} not found; install "
            "onnxruntime-gpu[cuda,cudnn] or use a CUDA base image",
        )
    return CudaStatus(True, f"{count.value} GPU(s) visible")


def _missing_cuda_libraries() -> list[str]:
    import onnxruntime as ort
    from onnxruntime.capi import build_and_package_info as info

    major = str(getattr(info, "cuda_version", "12")).split(".")[0]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(Exception):
        ort.preload_dlls(cuda=True, cudnn=True, directory="")  # libraries from nvidia-* wheels
    names = [
        f"libcudart.so.{major}",
        f"libcublas.so.{major}",
        f"libcublasLt.so.{major}",
        "libcurand.so.10",
        "libcudnn.so.9",
    ]
    missing = []
    for name in names:
        try:
            ctypes.CDLL(name)
        except OSError:
            missing.append(name)
    return missing


def select_providers(requested: str | Sequence[str]) -> ProviderChoice:
    """Choose providers for this process (probes the machine once)."""
    import onnxruntime as ort

    available = list(ort.get_available_providers())
    cuda = cuda_status() if CUDA in available else CudaStatus(False, "no CUDA provider")
    return choose_providers(requested, available, cuda)
