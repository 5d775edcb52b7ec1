"""benchmarks/gpu.py up to its GPU check (this machine may have none): the refusal rule, and
the script refusing in one line exactly where no GPU is present."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

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


@pytest.mark.integration
def test_the_cpu_dry_run_goes_through_every_step(
    tmp_path: Path, model_factory: Callable[[str], Path]
) -> None:
    """Sweep, fp16 conversion and the Serve pipeline, on the CPU at a small size. The
    session's digits MLP waits where the script builds it (``build`` keeps a model that is
    there), so the script does not train it again."""
    model = model_factory("digits_mlp")
    for made in model.parent.glob(f"{model.name}*"):  # the model, its sha256 and profile
        shutil.copyfile(made, tmp_path / made.name)
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "gpu.py"), "--cpu-dry-run", "--events", "1000",
         "--rounds", "1", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=500, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["dry_run_on_cpu"] is True and report["devices"] == ["cpu"]
    assert set(report["sweep_rows_per_s"]["cpu-fp32"]) == {"1", "16", "64"}
    for precision in ("fp32", "fp16"):
        run = report["pipeline"][precision]
        assert run["events"] == 1000 and run["events_per_s"] > 0
        assert len(run["replica_providers"]) == 2  # both replicas answered
        assert all(p == ["CPUExecutionProvider"] for p in run["replica_providers"].values())
        assert 0 <= run["p50_ms"] <= run["p99_ms"]
