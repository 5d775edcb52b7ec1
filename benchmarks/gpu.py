"""The prepared GPU check (issue 12): CPU against CUDA on the digits MLP over batch sizes
1..4096, fp32 against fp16, and a pipeline whose Ray Serve replicas ask for ``num_gpus: 0.5``
scoring a stream end to end (which provider each replica used, events/s, p50/p99 latency).

Refuses with one line, exit code 2, where no GPU is present: it needs onnxruntime's CUDA
provider, a GPU that ``nvidia-smi -L`` lists, and a usable CUDA driver and libraries.
``--cpu-dry-run`` runs every step on the CPU at a small size (replicas ask for no GPU), to
check the script itself on a machine without one; ``--check-only`` only says whether it
would run. Prints JSON; about 3-6 minutes on a GPU machine at the default sizes.

    python benchmarks/gpu.py [--events 40000] [--replicas 2] [--plot docs/benchmarks/gpu.png]
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from streaminfer.operators.half import to_fp16
from streaminfer.operators.providers import CUDA, cuda_status
from streaminfer.pipelines.devtools.example_models import EXAMPLES, build, write_model
from streaminfer.pipelines.optimize.timing import open_session, time_sessions
from streaminfer.pipelines.runtime.worker_metrics import quantile

BATCHES = (1, 4, 16, 64, 256, 1024, 4096)


def refusal(available: list[str], gpus: list[str], cuda_usable: bool, why: str) -> str | None:
    """Why this machine cannot run the check (None: it can).

    >>> refusal(["CPUExecutionProvider"], [], False, "no driver")
    'no GPU here: onnxruntime has no CUDAExecutionProvider; nvidia-smi lists no GPU; no driver'
    >>> refusal([CUDA, "CPUExecutionProvider"], ["GPU 0: H200"], True, "ok") is None
    True
    """
    problems = []
    if CUDA not in available:
        problems.append(f"onnxruntime has no {CUDA}")
    if not gpus:
        problems.append("nvidia-smi lists no GPU")
    if not cuda_usable:
        problems.append(why)
    return "no GPU here: " + "; ".join(problems) if problems else None


def listed_gpus() -> list[str]:
    """``nvidia-smi -L`` lines (none when it is missing or fails)."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        done = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line for line in done.stdout.splitlines() if line.startswith("GPU")]


def why_not() -> str | None:
    import onnxruntime as ort

    status = cuda_status()
    return refusal(ort.get_available_providers(), listed_gpus(), status.usable, status.reason)


def sweep(model: bytes, X: np.ndarray, batches: list[int], devices: list[str],
          rounds: int, block_s: float) -> dict[str, dict[int, float]]:
    """rows/s per (device, precision) and batch size."""
    half = to_fp16(model)
    sessions = {f"{device}-{precision}": open_session(data, device)
                for device in devices
                for precision, data in (("fp32", model), ("fp16", half))
                if not (device == "cpu" and precision == "fp16")}  # fp16 is for GPUs
    speeds = time_sessions(sessions, X, batches, rounds=rounds, block_s=block_s)
    return {name: {1: round(1000 / s.latency_ms_b1, 1), **s.rows_per_s}
            for name, s in speeds.items()}


def replica_providers(app: str, replicas: int, calls: int = 200) -> dict[str, list[str]]:
    """Ask the application's replicas which providers they use, until each has answered
    (Serve spreads the calls) or ``calls`` ran out."""
    from ray import serve

    handle = serve.get_app_handle(app)
    seen: dict[str, list[str]] = {}
    for _ in range(calls):
        answer = handle.describe.remote().result(timeout_s=30)
        seen[answer["replica"]] = answer["providers"]
        if len(seen) >= replicas:
            break
    return seen


def stream(model_path: Path, count: int, replicas: int, num_gpus: float) -> dict[str, Any]:
    """The pipeline with Serve replicas: events/s, latency percentiles, replica providers."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from throughput import PARTITIONS, latencies, produce, uid

    from streaminfer import Pipeline, PipelineSpec
    from streaminfer.pipelines.kafka.embedded_broker import EmbeddedBroker
    from streaminfer.pipelines.kafka.topics import ensure_topics
    from streaminfer.pipelines.runtime.serving import app_name
    from streaminfer.waiting import wait_until

    data = EXAMPLES["digits_mlp"].dataset()
    events = [json.dumps({"id": f"e{i}", **dict(zip(data.features,
                                                    data.X[i % len(data.X)].tolist(),
                                                    strict=True))}).encode()
              for i in range(count)]
    with EmbeddedBroker() as broker:
        config = {"bootstrap_servers": [broker.bootstrap_servers]}
        topic, out = uid("digits"), uid("scores")
        ensure_topics(config, {topic: PARTITIONS}, create_missing=True)
        spec = PipelineSpec.model_validate({
            "name": uid("gpu"),
            # the embedded broker holds a group join for half the session timeout
            "kafka": {"bootstrap_servers": broker.bootstrap_servers,
                      "session_timeout_ms": 4000, "heartbeat_interval_ms": 500},
            "source": {"topics": [topic], "group_id": uid("g"), "features": data.features,
                       "id_field": "id", "partitions": PARTITIONS},
            "model": {"path": str(model_path), "name": "digits", "serving": "serve",
                      "serve": {"min_replicas": replicas, "max_replicas": replicas,
                                "num_cpus": 1, "num_gpus": num_gpus, "max_batch_size": 8}},
            "batching": {"max_size": 512, "max_wait_ms": 20},
            "sink": {"predictions_topic": out, "dead_letter_topic": uid("dlq")},
            "workers": {"count": 2, "num_cpus": 0.5}, "metrics": {"enabled": False},
        })
        assert spec.model is not None
        pipeline = Pipeline(spec).start().wait_ready(timeout_s=300)
        try:
            providers = replica_providers(app_name(spec, spec.model), replicas)
            start = time.monotonic()
            produce(config, topic, events, None)
            if not wait_until(lambda: pipeline.stats().predictions >= count, 600, every_s=0.25):
                raise RuntimeError(f"{pipeline.stats().predictions}/{count} scored after 600 s")
            seconds = time.monotonic() - start
        finally:
            pipeline.stop()
        lat = latencies(config, out, count)
    return {"events": count, "replicas": replicas, "num_gpus_per_replica": num_gpus,
            "replica_providers": providers, "events_per_s": round(count / seconds, 1),
            "p50_ms": quantile(lat, 0.5), "p99_ms": quantile(lat, 0.99)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cpu-dry-run", action="store_true",
                        help="Run every step on the CPU at a small size (no GPU needed).")
    parser.add_argument("--check-only", action="store_true",
                        help="Only say whether this machine can run the check.")
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("build/bench-gpu"))
    parser.add_argument("--plot", type=Path, default=None)
    args = parser.parse_args()
    problem = why_not()
    if problem and not args.cpu_dry_run:
        print(f"benchmarks/gpu.py refuses: {problem}", file=sys.stderr)
        sys.exit(2)
    if args.check_only:
        print("a GPU is present: benchmarks/gpu.py can run here")
        return
    import ray

    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    dry = args.cpu_dry_run  # on the CPU even where a GPU is present
    devices = ["cpu"] if dry else ["cpu", "cuda"]
    batches = [1, 16, 64] if dry else list(BATCHES)
    model_path = build("digits_mlp", args.out)
    X = EXAMPLES["digits_mlp"].dataset().X.astype(np.float32)
    report: dict[str, Any] = {"dry_run_on_cpu": dry, "devices": devices,
                              "gpus": listed_gpus()}
    started = time.monotonic()
    report["sweep_rows_per_s"] = sweep(model_path.read_bytes(), X, batches, devices,
                                       args.rounds, 0.05 if dry else 0.3)
    fp16_path = write_model(to_fp16(model_path.read_bytes()), args.out / "digits_mlp_fp16.onnx")
    ray.init(include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False,
             num_cpus=8)  # Ray finds the GPUs itself
    count = min(args.events, 3000) if dry else args.events
    report["pipeline"] = {
        precision: stream(path, count, args.replicas, 0.0 if dry else 0.5)
        for precision, path in (("fp32", model_path), ("fp16", fp16_path))}
    ray.shutdown()
    report["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(report, indent=2))
    if args.plot:
        plot(report, args.plot)


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, curve in report["sweep_rows_per_s"].items():
        sizes = sorted(int(b) for b in curve)
        ax.plot(sizes, [curve[b] for b in sizes], marker="o", label=name)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("batch size")
    ax.set_ylabel("rows/s")
    ax.set_title("digits MLP: CPU against CUDA, fp32 against fp16")
    ax.legend()
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    print(f"plot written to {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
