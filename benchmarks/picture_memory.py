"""Picture memory: `streaminfer demo --pictures` left running, the resident memory of its
scoring workers (and of the joiner, the model store and the embedded broker) sampled.

It starts the pictures demo as a user does (a subprocess: configs/demo-pictures.yaml on free
ports, at its default rate), samples every ``--interval`` seconds the RSS of each Ray actor
process the demo's Ray runs (by its process title, ``ray::SourceWorker`` for a scoring
worker) and of the broker, and after ``--minutes`` stops it with SIGTERM (it drains and
prints its books). It prints JSON: the samples, the largest RSS per process kind, the RSS per
minute (the last sample of each minute), the growth of the workers from the first minute to
the last, the exit code and the books; ``--plot`` draws the curves.

    python benchmarks/picture_memory.py --minutes 10 [--rate 100] [--interval 5]
        [--out docs/benchmarks/picture_memory.json] [--plot docs/benchmarks/picture_memory.png]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from demo_memory import books, broker_of, demo_config  # benchmarks/ is on sys.path as a script

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
#: The actor classes whose processes are sampled, by the process title Ray gives them.
KINDS = ("SourceWorker", "FeedbackJoiner", "ModelStore")


def actor_kind(process: psutil.Process) -> str | None:
    """Which of :data:`KINDS` a Ray worker process runs (``None``: none, or not an actor)."""
    try:
        title = " ".join(process.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    return next((kind for kind in KINDS if title.startswith(f"ray::{kind}")), None)


def sample(demo: psutil.Process) -> dict[str, float]:
    """RSS in MB of each actor process under the demo (``SourceWorker-0``, ...) and of the
    broker."""
    rss: dict[str, float] = {}
    counts: dict[str, int] = {}
    for child in demo.children(recursive=True):
        kind = actor_kind(child)
        if kind is None:
            continue
        with contextlib.suppress(psutil.NoSuchProcess):
            index = counts.get(kind, 0)
            rss[f"{kind}-{index}"] = round(child.memory_info().rss / 2**20, 1)
            counts[kind] = index + 1
    broker = broker_of(demo)
    if broker is not None:
        with contextlib.suppress(psutil.NoSuchProcess):
            rss["broker"] = round(broker.memory_info().rss / 2**20, 1)
    return rss


def per_minute(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The last sample of each whole minute (the run's RSS per minute)."""
    by_minute: dict[int, dict[str, Any]] = {}
    for s in samples:
        by_minute[int(s["s"] // 60)] = s
    return [{"minute": m + 1, **by_minute[m]["rss_mb"]} for m in sorted(by_minute)]


def worker_growth(minutes: list[dict[str, Any]]) -> float | None:
    """MB the scoring workers grew from the first minute to the last (all workers)."""
    def workers(row: dict[str, Any]) -> float:
        return sum(v for k, v in row.items() if k.startswith("SourceWorker"))
    rows = [r for r in minutes if any(k.startswith("SourceWorker") for k in r)]
    return round(workers(rows[-1]) - workers(rows[0]), 1) if len(rows) > 1 else None


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        config = demo_config(args.config, Path(folder))
        log = Path(folder) / "demo.log"
        command = [sys.executable, "-m", "streaminfer.cli", "demo", "--pictures",
                   "--config", str(config), "--rate", str(args.rate)]
        with log.open("w") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                       env={**os.environ, "COLUMNS": "160"}, cwd=REPO)
            demo = psutil.Process(process.pid)
            started = time.monotonic()
            deadline = started + args.minutes * 60
            samples: list[dict[str, Any]] = []
            signalled_at = None
            while process.poll() is None:
                now = time.monotonic()
                if now >= deadline and signalled_at is None:
                    process.send_signal(signal.SIGTERM)  # drain, then the books
                    signalled_at = round(now - started, 1)
                if signalled_at is None:
                    rss = sample(demo)
                    if rss:
                        samples.append({"s": round(now - started, 1), "rss_mb": rss})
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(args.interval)
            ended = round(time.monotonic() - started, 1)
        output = log.read_text()
    largest: dict[str, float] = {}
    for s in samples:
        for name, mb in s["rss_mb"].items():
            largest[name] = max(mb, largest.get(name, 0.0))
    minutes = per_minute(samples)
    return {
        "benchmark": "picture_memory", "machine": platform.node(), "cpus": os.cpu_count(),
        "settings": {"minutes": args.minutes, "rate": args.rate, "interval_s": args.interval,
                     "config": str(args.config.relative_to(REPO))},
        "exit_code": process.returncode, "ended_s": ended, "sigterm_at_s": signalled_at,
        "max_rss_mb": largest, "rss_mb_per_minute": minutes,
        "worker_growth_mb": worker_growth(minutes), "books": books(output),
        "output_tail": output[-2000:], "samples": samples,
    }


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = result["samples"]
    names = sorted({name for s in samples for name in s["rss_mb"]})
    fig, ax = plt.subplots(figsize=(9, 4))
    for name in names:
        rows = [s for s in samples if name in s["rss_mb"]]
        ax.plot([s["s"] / 60 for s in rows], [s["rss_mb"][name] for s in rows], marker=".",
                label=name)
    ax.set_xlabel("minutes")
    ax.set_ylabel("RSS, MB")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left", fontsize="small")
    books_ = result["books"] or {}
    ax.set_title(f"streaminfer demo --pictures, {result['settings']['rate']:.0f} images/s: "
                 f"{books_.get('events')} pictures, adds up: {books_.get('adds_up')}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=100.0, help="images/s (demo default)")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds per sample")
    parser.add_argument("--config", type=Path, default=REPO / "configs/demo-pictures.yaml")
    parser.add_argument("--out", type=Path, default=None, help="write the JSON here")
    parser.add_argument("--plot", type=Path, default=None, help="draw a PNG here")
    args = parser.parse_args()
    args.config = args.config.resolve()
    result = run(args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    if args.plot:
        plot(result, args.plot)
    return 0 if result["exit_code"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
