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


@pytest.fixture
def models_there(tmp_path: Path, model_factory: Callable[[str], Path]) -> Path:
    """A folder holding the session's digits MLP and picture CNN: ``build`` keeps a model that
    is there, so the script does not train them again."""
    for name in ("digits_mlp", "apples_oranges"):
        model = model_factory(name)
        for made in model.parent.glob(f"{model.name}*"):  # the model, its sha256 and profile
            shutil.copyfile(made, tmp_path / made.name)
    return tmp_path


@pytest.mark.integration
def test_the_cpu_dry_run_goes_through_every_step_for_both_models(models_there: Path) -> None:
    """Sweeps, fp16 conversion and the Serve pipelines of both models (digits events for the
    MLP, JPEG pictures for the CNN), on the CPU at a tiny size, on one broker and one Ray;
    then the plot of what it printed."""
    out = models_there
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "gpu.py"), "--cpu-dry-run", "--events", "200",
         "--rounds", "1", "--out", str(out)],
        capture_output=True, text=True, timeout=500, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["dry_run_on_cpu"] is True and report["devices"] == ["cpu"]
    models = report["models"]
    assert {key: (m["model"], m["unit"]) for key, m in models.items()} == {
        "mlp": ("digits_mlp", "rows"), "cnn": ("apples_oranges", "images")}
    served = {}
    for result in models.values():
        assert list(result["sweep_per_s"]) == ["cpu-fp32"]  # fp16 sessions are for GPUs
        assert set(result["sweep_per_s"]["cpu-fp32"]) == {"1", "8"}
        assert all(speed > 0 for speed in result["sweep_per_s"]["cpu-fp32"].values())
        for precision, run in result["pipeline"].items():
            served[result["model"]] = precision
            assert run["events"] == 200 and run["events_per_s"] > 0
            assert run["num_gpus_per_replica"] == 0.0
            assert len(run["replica_providers"]) == 2  # both replicas answered
            assert all(p == [CPU] for p in run["replica_providers"].values())
            assert 0 <= run["p50_ms"] <= run["p99_ms"]
    assert served == {"digits_mlp": "fp32", "apples_oranges": "fp16"}  # each precision once
    assert (out / "apples_oranges_fp16.onnx").stat().st_size > 0
    gpu_script().plot(report, out / "gpu.png")  # here: this process may have matplotlib
    assert (out / "gpu.png").stat().st_size > 10_000
