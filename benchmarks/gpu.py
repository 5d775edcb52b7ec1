"""The prepared GPU check (issues 12 and 20): CPU against CUDA on two models, the digits MLP
(batch sizes 1..4096, rows/s) and the apples_oranges picture CNN (batch sizes 1..256,
images/s), fp32 against fp16, and for each a pipeline whose Ray Serve replicas ask for
``num_gpus: 0.5`` scoring a stream end to end (digits events; JPEG picture events for the CNN,
decoded and preprocessed as ``configs/pictures.yaml`` says): which provider each replica
used, events/s, p50/p99 latency.

Refuses with one line, exit code 2, where no GPU is present: it needs onnxruntime's CUDA
provider, a GPU that ``nvidia-smi -L`` lists, and a usable CUDA driver and libraries.
``--cpu-dry-run`` runs every step on the CPU at a tiny size (replicas ask for no GPU; one
pipeline per model: the MLP's in fp32, the CNN's in fp16), to check the script itself on a
machine without one; ``--check-only`` only says whether it would run. Both models share one
broker and one Ray. Prints JSON; several minutes on a GPU machine at the default sizes (not
yet run on one).

    python benchmarks/gpu.py [--model mlp|cnn|both] [--events 40000] [--replicas 2]
                             [--plot docs/benchmarks/gpu.png]
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
from typing import Any, NamedTuple

import numpy as np

from streaminfer.operators.half import to_fp16
from streaminfer.operators.providers import CUDA, cuda_status
from streaminfer.pipelines.devtools.example_models import EXAMPLES, build, write_model
from streaminfer.pipelines.optimize.timing import open_session, time_sessions
from streaminfer.pipelines.runtime.worker_metrics import quantile

HERE = Path(__file__).resolve().parent
PRECISIONS = ("fp32", "fp16")


class Bench(NamedTuple):
    """One model the check measures."""

    example: str  # its name in example_models
    unit: str  # what one row (and one event) is
    batches: tuple[int, ...]  # the sweep's batch sizes on a GPU machine
    max_batch: int  # the pipeline's batching.max_size
    dry_precision: str  # the one pipeline the CPU dry run starts


BENCHES = {
    "mlp": Bench("digits_mlp", "rows", (1, 4, 16, 64, 256, 1024, 4096), 512, "fp32"),
    "cnn": Bench("apples_oranges", "images", (1, 2, 4, 8, 16, 32, 64, 128, 256), 256, "fp16"),
}
DRY_BATCHES = (1, 8)  # the dry run checks the script, not the speed


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


def pipelines_of(bench: Bench, dry: bool) -> tuple[str, ...]:
    """The precisions a model's pipeline runs in: both on a GPU; in the dry run one per
    model, so that across the two models each precision is served once.

    >>> pipelines_of(BENCHES["cnn"], True), pipelines_of(BENCHES["cnn"], False)
    (('fp16',), ('fp32', 'fp16'))
    """
    return (bench.dry_precision,) if dry else PRECISIONS


def sample(key: str) -> np.ndarray:
    """Rows to time the model on, float32, in the shape its input takes."""
    if key == "mlp":
        return EXAMPLES["digits_mlp"].dataset().X.astype(np.float32)
    from streaminfer.pipelines.devtools.example_pictures import fruit_pictures, normalized

    pictures, _ = fruit_pictures(64, seed=11)
    return np.ascontiguousarray(normalized(pictures).transpose(0, 3, 1, 2))  # NHWC to NCHW


def sweep(models: dict[str, bytes], X: np.ndarray, batches: list[int], devices: list[str],
          rounds: int, block_s: float) -> dict[str, dict[int, float]]:
    """Rows/s per (device, precision) and batch size."""
    sessions = {}
    for device in devices:
        for precision, data in models.items():
            if device == "cpu" and precision == "fp16":
                continue  # fp16 is for GPUs
            sessions[f"{device}-{precision}"] = open_session(data, device)
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


def events_of(key: str, count: int, pixels: int) -> tuple[list[bytes], dict[str, Any],
                                                          dict[str, Any]]:
    """The stream's events, the pipeline's source keys and its model keys for the model."""
    if key == "mlp":
        data = EXAMPLES["digits_mlp"].dataset()
        return ([json.dumps({"id": f"e{i}", **dict(zip(data.features,
                                                       data.X[i % len(data.X)].tolist(),
                                                       strict=True))}).encode()
                 for i in range(count)], {"features": data.features}, {})
    from pictures import make_events, model_section  # benchmarks/pictures.py

    return make_events(count, pixels), {}, model_section()  # JPEG, configs/pictures.yaml's


class Stream(NamedTuple):
    """A pipeline started, the topics it reads and writes, and its events."""

    pipeline: Any
    app: str  # its Serve application
    config: dict[str, Any]
    topic: str
    out: str
    values: list[bytes]
    replicas: int
    num_gpus: float


def start(bootstrap: str, model_path: Path, bench: Bench, events: tuple[list[bytes],
          dict[str, Any], dict[str, Any]], replicas: int, num_gpus: float,
          workers: int) -> Stream:
    """The pipeline with Serve replicas, started (not yet ready), its stream not yet sent."""
    from throughput import PARTITIONS, uid

    from streaminfer import Pipeline, PipelineSpec
    from streaminfer.pipelines.kafka.topics import ensure_topics
    from streaminfer.pipelines.runtime.serving import app_name

    values, source, model = events
    config = {"bootstrap_servers": [bootstrap]}
    topic, out = uid(bench.example), uid("scores")
    ensure_topics(config, {topic: PARTITIONS}, create_missing=True)
    spec = PipelineSpec.model_validate({
        "name": uid("gpu"),
        # the embedded broker holds a group join for half the session timeout
        "kafka": {"bootstrap_servers": bootstrap,
                  "session_timeout_ms": 4000, "heartbeat_interval_ms": 500},
        "source": {"topics": [topic], "group_id": uid("g"), "id_field": "id",
                   "partitions": PARTITIONS, **source},
        "model": {"path": str(model_path), "name": bench.example, "serving": "serve",
                  "serve": {"min_replicas": replicas, "max_replicas": replicas,
                            "num_cpus": 1, "num_gpus": num_gpus, "max_batch_size": 8},
                  **model},
        "batching": {"max_size": bench.max_batch, "max_wait_ms": 20},
        "sink": {"predictions_topic": out, "dead_letter_topic": uid("dlq")},
        "workers": {"count": workers, "num_cpus": 0.5}, "metrics": {"enabled": False},
    })
    assert spec.model is not None
    return Stream(Pipeline(spec).start(), app_name(spec, spec.model), config, topic, out,
                  values, replicas, num_gpus)


def measure(run: Stream) -> dict[str, Any]:
    """Send the stream through the started pipeline, then stop it: events/s, latency
    percentiles, the providers its replicas use."""
    from throughput import drop_topics, latencies, produce

    from streaminfer.waiting import wait_until

    count = len(run.values)
    try:
        run.pipeline.wait_ready(timeout_s=300)
        providers = replica_providers(run.app, run.replicas)
        began = time.monotonic()
        produce(run.config, run.topic, run.values, None)
        if not wait_until(lambda: run.pipeline.stats().predictions >= count, 600, every_s=0.25):
            raise RuntimeError(f"{run.pipeline.stats().predictions}/{count} scored after 600 s")
        seconds = time.monotonic() - began
    finally:
        run.pipeline.stop()
    lat = latencies(run.config, run.out, count)
    drop_topics(run.config, [run.topic, run.out])  # the in-memory broker keeps every record
    return {"events": count, "replicas": run.replicas, "num_gpus_per_replica": run.num_gpus,
            "replica_providers": providers, "events_per_s": round(count / seconds, 1),
            "p50_ms": quantile(lat, 0.5), "p99_ms": quantile(lat, 0.99)}


def pipelines(bootstrap: str, keys: list[str], paths: dict[str, dict[str, Path]],
              args: argparse.Namespace, dry: bool) -> dict[str, dict[str, Any]]:
    """Each model's pipelines by precision. On a GPU one pipeline runs at a time, alone on the
    machine, with two workers; the dry run gives each one worker and starts them all before
    it measures any (their starts overlap: it checks the script, not the speed)."""
    count = min(args.events, 3000) if dry else args.events
    planned = [(key, precision) for key in keys for precision in pipelines_of(BENCHES[key], dry)]
    events = {key: events_of(key, count, args.pixels) for key in keys}

    def started(key: str, precision: str) -> Stream:  # not yet ready
        return start(bootstrap, paths[key][precision], BENCHES[key], events[key],
                     args.replicas, 0.0 if dry else 0.5, 1 if dry else 2)

    results: dict[str, dict[str, Any]] = {key: {} for key in keys}
    if not dry:
        for key, precision in planned:
            results[key][precision] = measure(started(key, precision))
        return results
    runs: list[Stream] = []
    try:
        for key, precision in planned:
            runs.append(started(key, precision))
        for (key, precision), run in zip(planned, runs, strict=True):
            results[key][precision] = measure(run)
    finally:
        for run in runs:
            run.pipeline.stop()  # safe twice
    return results


def replicas_ran(run: dict[str, Any]) -> str:
    """The providers the replicas ran first, counted.

    >>> replicas_ran({"replica_providers": {"a": [CUDA, "CPUExecutionProvider"], "b": [CUDA]}})
    'CUDA x2'
    """
    first = [providers[0].removesuffix("ExecutionProvider")
             for providers in run["replica_providers"].values()]
    return ", ".join(f"{name} x{first.count(name)}" for name in sorted(set(first)))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--cpu-dry-run", action="store_true",
                        help="Run every step on the CPU at a tiny size (no GPU needed).")
    parser.add_argument("--check-only", action="store_true",
                        help="Only say whether this machine can run the check.")
    parser.add_argument("--model", choices=("mlp", "cnn", "both"), default="both",
                        help="The digits MLP, the apples_oranges picture CNN, or both.")
    parser.add_argument("--events", type=int, default=40_000,
                        help="Events per pipeline (at most 3,000 in the dry run).")
    parser.add_argument("--pixels", type=int, default=64,
                        help="Side of the square JPEG pictures the CNN's stream sends.")
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("build/bench-gpu"))
    parser.add_argument("--plot", type=Path, default=None)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    problem = why_not()
    if problem and not args.cpu_dry_run:
        print(f"benchmarks/gpu.py refuses: {problem}", file=sys.stderr)
        sys.exit(2)
    if args.check_only:
        print("a GPU is present: benchmarks/gpu.py can run here")
        return
    import ray

    from streaminfer.pipelines.kafka.embedded_broker import EmbeddedBroker

    sys.path.insert(0, str(HERE))
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    dry = args.cpu_dry_run  # on the CPU even where a GPU is present
    devices = ["cpu"] if dry else ["cpu", "cuda"]
    keys = list(BENCHES) if args.model == "both" else [args.model]
    report: dict[str, Any] = {"dry_run_on_cpu": dry, "devices": devices,
                              "gpus": listed_gpus(), "models": {}}
    started = time.monotonic()
    paths: dict[str, dict[str, Path]] = {}
    for key in keys:  # the sweeps first, on a machine Ray and the broker do not share yet
        bench = BENCHES[key]
        fp32 = build(bench.example, args.out)
        fp16 = to_fp16(fp32.read_bytes())
        paths[key] = {"fp32": fp32,
                      "fp16": write_model(fp16, args.out / f"{bench.example}_fp16.onnx")}
        report["models"][key] = {"model": bench.example, "unit": bench.unit, "sweep_per_s": sweep(
            {"fp32": fp32.read_bytes(), "fp16": fp16}, sample(key),
            list(DRY_BATCHES if dry else bench.batches), devices, args.rounds,
            0.02 if dry else 0.3)}
    ray.init(include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False,
             num_cpus=8)  # Ray finds the GPUs itself
    try:
        with EmbeddedBroker() as broker:  # one broker and one Ray for every pipeline
            for key, runs in pipelines(broker.bootstrap_servers, keys, paths, args, dry).items():
                report["models"][key]["pipeline"] = runs
    finally:
        ray.shutdown()
    report["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(report, indent=2))
    if args.plot:
        plot(report, args.plot)


def plot(report: dict[str, Any], path: Path) -> None:
    """One figure: a sweep panel per model (log-log), and the pipelines' throughput."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    plain = FuncFormatter(lambda value, _: f"{value:,.0f}")
    models = report["models"]
    fig, axes = plt.subplots(1, len(models) + 1, figsize=(5.2 * (len(models) + 1), 4.6))
    for ax, (key, result) in zip(axes, models.items(), strict=False):
        for name, curve in sorted(result["sweep_per_s"].items()):
            points = sorted((int(size), speed) for size, speed in curve.items())  # JSON: str
            ax.plot(*zip(*points, strict=True), marker="o", label=name,
                    color="tab:green" if name.startswith("cuda") else "tab:blue",
                    linestyle="--" if "fp16" in name else "-")
            ax.set_xticks([size for size, _ in points])
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_formatter(NullFormatter())
        low, high = ax.get_ylim()
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0) if high / low > 30
                                              else (1.0, 1.5, 2.0, 3.0, 5.0, 7.0)))
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("batch size")
        ax.set_ylabel(f"{result['unit']}/s")
        ax.set_title(f"{result['model']} ({key}): session alone")
        ax.legend(fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
    ax = axes[-1]
    runs = [(f"{key} {precision}\n{replicas_ran(run)}", run) for key, result in models.items()
            for precision, run in result.get("pipeline", {}).items()]
    bars = ax.bar([label for label, _ in runs], [run["events_per_s"] for _, run in runs],
                  color=["tab:blue" if "fp32" in label else "tab:orange" for label, _ in runs])
    for bar, (_, run) in zip(bars, runs, strict=True):
        ax.annotate(f"p50 {run['p50_ms']:.0f} ms\np99 {run['p99_ms']:.0f} ms",
                    (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=8)
    ax.margins(y=0.25)
    gpus = runs[0][1]["num_gpus_per_replica"] if runs else 0
    ax.set_title(f"Serve pipeline, {runs[0][1]['replicas'] if runs else 0} replicas "
                 f"x num_gpus {gpus}")
    ax.set_ylabel("events/s (an event: one row, or one picture)")
    where = "CPU dry run" if report["dry_run_on_cpu"] else ", ".join(report["gpus"]) or "GPU"
    fig.suptitle(f"benchmarks/gpu.py: CPU against CUDA, fp32 against fp16 ({where})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot written to {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
