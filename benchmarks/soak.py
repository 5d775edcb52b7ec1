"""Soak: the demo (`make demo`) left running, measured once per interval.

It runs exactly what ``streaminfer demo`` runs (configs/demo.yaml on the embedded broker, the
demo's generator at its default rate, its outcome collector) and prints one JSON line per
interval: events/s accounted for, p50/p99 latency of the predictions that arrived in it, the
broker's CPU and memory, and the books (produced, accounted, duplicates). At the end it stops
the demo as Kubernetes would (the same drain SIGTERM triggers), prints the summary, writes
the whole run as JSON and draws it.

    python benchmarks/soak.py --minutes 60 [--rate 2000] [--interval 60]
        [--out docs/benchmarks/soak.json] [--plot docs/benchmarks/soak.png]

SIGINT/SIGTERM end the run early, with the same summary and files. ``--replot JSON`` only
redraws an earlier run's plot.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from rich.console import Console

from streaminfer.pipelines.devtools.demo import DemoRun
from streaminfer.pipelines.devtools.outcomes import MAX_LATENCY_MS, histogram_quantile
from streaminfer.pipelines.process.stop_signals import StopSignals
from streaminfer.pipelines.spec.config_io import deep_merge, parse_yaml, read_text
from streaminfer.pipelines.spec.schema import PipelineSpec

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def demo_spec(config: Path) -> PipelineSpec:
    """The demo's pipeline on free ports (so a running `make demo` does not clash)."""
    data = parse_yaml(read_text(config), str(config))
    data = deep_merge(data, {"kafka": {"embedded": {"port": 0}}, "metrics": {"port": 0}})
    return PipelineSpec.model_validate(data).resolve_paths(config.parent)


class Sampler:
    """One row per interval from the demo's books and the broker process."""

    def __init__(self, run: DemoRun) -> None:
        self.run = run
        pid = run.pipeline.broker_pid
        self.broker = psutil.Process(pid) if pid else None
        if self.broker is not None:
            self.broker.cpu_percent()  # starts the CPU clock
        self.started = time.monotonic()
        self._at: float | None = None
        self._accounted = 0
        self._latencies = np.zeros(MAX_LATENCY_MS + 1, np.int64)

    def sample(self) -> dict[str, Any]:
        collector, generator = self.run.collector, self.run.generator
        assert collector is not None and generator is not None
        with collector.lock:
            out = collector.outcomes
            accounted, duplicates = out.accounted, out.duplicates
            histogram = out.latency_histogram.copy()
        fresh = histogram - self._latencies
        now = time.monotonic()
        row: dict[str, Any] = {
            "minute": round((now - self.started) / 60, 2),
            "produced": generator.sent, "accounted": accounted, "duplicates": duplicates,
            "events_per_s": None, "p50_ms": histogram_quantile(fresh, 0.5),
            "p99_ms": histogram_quantile(fresh, 0.99),
            "broker_cpu_percent": None, "broker_rss_mb": None,
        }
        if self._at is not None:
            row["events_per_s"] = round((accounted - self._accounted) / (now - self._at), 1)
        if self.broker is not None and self.broker.is_running():
            row["broker_cpu_percent"] = self.broker.cpu_percent()
            row["broker_rss_mb"] = round(self.broker.memory_info().rss / 2**20, 1)
        self._at, self._accounted, self._latencies = now, accounted, histogram
        return row


def plot(result: dict[str, Any], path: Path) -> None:
    """Three panels over the run's minutes, each legend above its panel (never on the data):
    throughput against the rate fed, latency, and the broker's CPU (left axis) and resident
    memory (right axis)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in result["intervals"] if r["events_per_s"] is not None]
    minutes = [r["minute"] for r in rows]
    rate = result["settings"]["rate"]
    fig, axes = plt.subplots(3, 1, figsize=(9, 9), sharex=True)
    axes[0].plot(minutes, [r["events_per_s"] for r in rows], marker=".",
                 label="events/s accounted for")
    axes[0].axhline(rate, color="grey", linestyle=":", label=f"rate fed ({rate:.0f}/s)")
    axes[0].set_ylabel("events/s")
    axes[0].set_ylim(0, rate * 1.15)
    axes[1].plot(minutes, [r["p50_ms"] for r in rows], marker=".", label="p50")
    axes[1].plot(minutes, [r["p99_ms"] for r in rows], marker=".", label="p99")
    axes[1].set_ylabel("end-to-end latency ms")
    axes[1].set_ylim(0, max(r["p99_ms"] for r in rows) * 1.1)
    cpu = axes[2].plot(minutes, [r["broker_cpu_percent"] for r in rows], marker=".",
                       color="tab:blue", label="broker CPU % (left axis)")
    axes[2].set_ylabel("broker CPU %", color="tab:blue")
    axes[2].set_ylim(bottom=0)
    memory = axes[2].twinx()
    rss = memory.plot(minutes, [r["broker_rss_mb"] for r in rows], color="tab:red",
                      label="broker resident memory MB (right axis)")
    memory.set_ylabel("broker resident memory MB", color="tab:red")
    memory.set_ylim(bottom=0)
    axes[2].set_xlabel("minutes")
    for axis, lines in ((axes[0], None), (axes[1], None), (axes[2], cpu + rss)):
        handles = lines or axis.get_legend_handles_labels()[0]
        axis.legend(handles=handles, loc="lower left", bbox_to_anchor=(0, 1.0),
                    ncol=len(handles), frameon=False, borderaxespad=0.2)
    summary = result["summary"]
    fig.suptitle(f"streaminfer demo soak: {rate:.0f} events/s, "
                 f"{result['minutes_run']:.0f} min, adds up: {summary and summary['adds_up']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=2000.0, help="events/s (demo default)")
    parser.add_argument("--interval", type=float, default=60.0, help="seconds per row")
    parser.add_argument("--bad-every", type=int, default=100)
    parser.add_argument("--config", type=Path, default=REPO / "configs/demo.yaml")
    parser.add_argument("--out", type=Path, default=None, help="write the JSON here")
    parser.add_argument("--plot", type=Path, default=None, help="draw a PNG here")
    parser.add_argument("--replot", type=Path, default=None,
                        help="only draw --plot (default: this JSON's name, .png) from this JSON "
                        "of an earlier run")
    args = parser.parse_args()
    if args.replot:
        plot(json.loads(args.replot.read_text()), args.plot or args.replot.with_suffix(".png"))
        return 0

    console = Console(stderr=True)
    run = DemoRun(demo_spec(args.config), events=None, rate=args.rate,
                  bad_every=args.bad_every)
    intervals: list[dict[str, Any]] = []
    with StopSignals() as signals:
        try:
            run.start(console)
            sampler = Sampler(run)
            started = stop_at = time.monotonic()
            deadline = started + args.minutes * 60
            while not signals.event.wait(min(args.interval, max(0, deadline - time.monotonic()))):
                run.check()
                row = sampler.sample()
                intervals.append(row)
                print(json.dumps(row), flush=True)
                if time.monotonic() >= deadline:
                    break
            stop_at = time.monotonic()
        finally:
            # At the deadline every event produced is waited for; on a signal, drained only.
            summary = run.stop(finish=not signals.event.is_set())
    result = {
        "benchmark": "soak",
        "settings": {"rate": args.rate, "interval_s": args.interval, "minutes": args.minutes,
                     "config": str(args.config.relative_to(REPO) if args.config.is_relative_to(
                         REPO) else args.config)},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "minutes_run": round((stop_at - started) / 60, 2),
        "drain_s": round(time.monotonic() - stop_at, 1),
        "intervals": intervals,
        "summary": None if summary is None else {**summary.__dict__, "adds_up": summary.adds_up},
    }
    print(json.dumps({k: v for k, v in result.items() if k != "intervals"}), flush=True)
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    if args.plot:
        plot(result, args.plot)
    return 0 if summary is not None and summary.adds_up else 1


if __name__ == "__main__":
    sys.exit(main())
