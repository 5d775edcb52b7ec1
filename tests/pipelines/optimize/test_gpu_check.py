"""benchmarks/gpu.py up to its GPU check (this machine may have none): the refusal rule, and
the script refusing in one line exactly where no GPU is present."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[3]
CUDA, CPU = "CUDAExecutionProvider", "CPUExecutionProvider"


def gpu_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gpu_check", REPO / "benchmarks" / "gpu.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_it_runs_only_with_the_provider_a_listed_gpu_and_usable_cuda() -> None:
    refusal = gpu_script().refusal
    assert refusal([CUDA, CPU], ["GPU 0: NVIDIA H200"], True, "driver 550") is None
    assert refusal([CPU], ["GPU 0: NVIDIA H200"], True, "") == (
        f"no GPU here: onnxruntime has no {CUDA}")
    assert refusal([CUDA, CPU], [], True, "") == "no GPU here: nvidia-smi lists no GPU"
    assert refusal([CUDA, CPU], ["GPU 0: X"], False, "libcudart missing") == (
        "no GPU here: libcudart missing")


def test_the_script_refuses_in_one_line_exactly_where_there_is_no_gpu() -> None:
    problem = gpu_script().why_not()
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu.py"), "--check-only"],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    if problem is None:
        assert done.returncode == 0 and "can run here" in done.stdout
    else:
        assert done.returncode == 2
        assert done.stderr.strip() == f"benchmarks/gpu.py refuses: {problem}"
