"""Throughput and latency of the pipeline against a hand-written one-process loop.

One run, one embedded broker, one model, the same events for every contestant:

1. throughput: N events are produced once; the bare loop (``bare_loop.py``, a subprocess) and
   the pipeline with 1 and 2 workers each drain them with their own consumer group.
   Reported: events/s, and the ratio pipeline/bare.
2. max rate under load: the 1-worker pipeline scores a fresh topic while a producer in this
   process sends to it as fast as it can (on a small machine they share the cores, which a
   drain of a full topic does not show).
3. latency: each contestant then scores a fresh topic fed at a fixed rate (by default half of
   that max rate); end-to-end latency is read from every prediction's ``latency_ms``
   (record timestamp -> prediction produced). Reported: p50/p95/p99, medians over rounds,
   and every round's p99.
4. memory: RSS of the bare loop and of each worker process.

Rounds alternate the contestants so a noisy neighbour hurts them alike; each figure is the
median over rounds. Each run's topics are deleted once read. The load generator is librdkafka
(see :func:`produce`). Prints JSON; ``--plot FILE.png`` draws it.

    python benchmarks/throughput.py [--events 30000] [--rounds 2] [--plot results.png]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import psutil

from streaminfer import Pipeline, PipelineSpec
from streaminfer.pipelines.devtools.example_models import EXAMPLES, build
from streaminfer.pipelines.kafka.embedded_broker import EmbeddedBroker
from streaminfer.pipelines.kafka.topic_reader import TopicReader
from streaminfer.pipelines.kafka.topics import admin_client, ensure_topics
from streaminfer.pipelines.runtime.worker_metrics import quantile
from streaminfer.waiting import wait_until

HERE = Path(__file__).resolve().parent
PARTITIONS = 4
MAX_WAIT_MS = 10  # the pipeline's default batching.max_wait_ms; --max-wait-ms changes it


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def produce(config: dict[str, Any], topic: str, events: list[bytes], rate: float | None) -> None:
    """Send ``events`` (as fast as possible, or paced at ``rate``/s) and wait for the acks.

    The load generator is librdkafka (confluent-kafka), not kafka-python: on a 2-core machine
    kafka-python's producer took ~40% of a core at 6,500 events/s, librdkafka ~8%, and the
    generator's CPU is taken from the contestants it feeds. Each record's timestamp is set
    when it is handed to the producer, so latency counts from there.
    """
    from confluent_kafka import Producer

    failed: list[Any] = []

    def delivered(error: Any, _message: Any) -> None:
        if error is not None:
            failed.append(error)

    producer = Producer({
        "bootstrap.servers": ",".join(config["bootstrap_servers"]), "acks": "all",
        "linger.ms": 2, "log_level": 3, "on_delivery": delivered,
    })
    started = time.monotonic()
    pause = threading.Event()
    for i, value in enumerate(events):
        if rate is not None and i % 50 == 0:
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                pause.wait(delay)
        while True:
            try:
                producer.produce(topic, key=str(i).encode(), value=value)
                break
            except BufferError:  # its queue is full: let it send
                producer.poll(0.01)
        producer.poll(0)
    left = producer.flush(60)
    if left or failed:
        raise RuntimeError(f"{left + len(failed)} of {len(events)} events not acknowledged: "
                           f"{failed[:1]}")


def drop_topics(config: dict[str, Any], topics: list[str]) -> None:
    """Delete a run's topics once read, so every run meets a broker holding as little data
    as the first one did (the in-memory broker keeps every record)."""
    admin = admin_client(config)
    try:
        admin.delete_topics(topics)
    finally:
        admin.close()


def make_events(count: int) -> tuple[list[str], list[bytes]]:
    data = EXAMPLES["breast_cancer"].dataset()
    events = []
    for i in range(count):
        row = data.X[i % len(data.X)].tolist()
        events.append(orjson.dumps({"id": f"e{i}", **dict(zip(data.features, row, strict=True))}))
    return data.features, events


def latencies(config: dict[str, Any], topic: str, count: int) -> list[int]:
    with TopicReader(config, [topic]) as reader:
        return [orjson.loads(r.value)["latency_ms"] for r in reader.read(count, 120)]


class Bare:
    """The hand-written loop as a subprocess."""

    name = "bare"

    def __init__(self, bootstrap: str, model: Path, features: list[str]) -> None:
        self.bootstrap, self.model, self.features = bootstrap, model, features

    def run(self, topic: str, out_topic: str, count: int,
            feed: Any = None) -> dict[str, Any]:
        proc = subprocess.Popen(
            [sys.executable, str(HERE / "bare_loop.py"), self.bootstrap, topic, uid("bare"),
             out_topic, str(self.model), json.dumps(self.features), str(count)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.strip() == "ready":
                break
        if feed:
            feed()
        stdout, stderr = proc.communicate(timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"bare loop failed: {stderr[-2000:]}")
        result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
        result["rss_mb_per_worker"] = [result.pop("rss_mb")]
        return result


class Streaming:
    """The pipeline with ``workers`` source workers (``model_options`` add to its model)."""

    def __init__(self, bootstrap: str, model: Path, features: list[str], workers: int,
                 model_options: dict[str, Any] | None = None, name: str | None = None) -> None:
        self.name = name or f"pipeline_{workers}w"
        self.bootstrap, self.model, self.features, self.workers = (
            bootstrap, model, features, workers)
        self.model_options = model_options or {}

    def spec(self, topic: str, out_topic: str) -> PipelineSpec:
        return PipelineSpec.model_validate({
            "name": uid("bench"),
            "kafka": {"bootstrap_servers": self.bootstrap, "session_timeout_ms": 6000,
                      "heartbeat_interval_ms": 500},
            "source": {"topics": [topic], "group_id": uid("g"), "features": self.features,
                       "id_field": "id", "partitions": PARTITIONS},
            "model": {"path": str(self.model), **self.model_options},
            "batching": {"max_size": 256, "max_wait_ms": MAX_WAIT_MS},
            "sink": {"predictions_topic": out_topic, "dead_letter_topic": uid("dlq")},
            "workers": {"count": self.workers, "num_cpus": 0.5},
            "metrics": {"enabled": False},
        })

    def run(self, topic: str, out_topic: str, count: int,
            feed: Any = None) -> dict[str, Any]:
        pipeline = Pipeline(self.spec(topic, out_topic)).start().wait_ready()
        try:
            if feed:
                feed()
            # The end is read from the workers' batch times.
            if not wait_until(lambda: pipeline.stats().events_in >= count, 600, every_s=0.25):
                raise RuntimeError(f"{self.name}: {pipeline.stats().events_in}/{count} "
                                   "after 600s")
            stats = pipeline.stats()
            rss = [round(psutil.Process(w.pid).memory_info().rss / 2**20, 1)
                   for w in stats.workers]
        finally:
            pipeline.stop()
        first = min(w.first_batch_at for w in stats.workers if w.first_batch_at)
        last = max(w.last_batch_at for w in stats.workers if w.last_batch_at)
        seconds = max(last - first, 1e-6)
        return {"events": stats.events_in, "seconds": round(seconds, 3),
                "events_per_s": round(stats.events_in / seconds, 1), "rss_mb_per_worker": rss}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument("--latency-rate", type=float, default=None,
                        help="events/s for the latency runs; default: half the 1-worker max")
    parser.add_argument("--max-wait-ms", type=int, default=10,
                        help="the pipeline's batching.max_wait_ms")
    parser.add_argument("--plot", type=Path, default=None)
    return parser.parse_args()


@dataclass
class Bench:
    """The contestants on one broker, and the events they score."""

    config: dict[str, Any]
    contestants: list[Bare | Streaming]
    events: list[bytes]

    def throughput(self, source: str, rounds: int) -> dict[str, list[dict[str, Any]]]:
        """Each contestant drains the filled ``source`` once per round, in turn."""
        results: dict[str, list[dict[str, Any]]] = {c.name: [] for c in self.contestants}
        for _ in range(rounds):
            for c in self.contestants:
                out = uid("bench-out")
                results[c.name].append(c.run(source, out, len(self.events)))
                drop_topics(self.config, [out])
                print(f"throughput {c.name}: {results[c.name][-1]}", file=sys.stderr)
        return results

    def fed(self, c: Bare | Streaming, count: int, rate: float | None
            ) -> tuple[list[str], dict[str, Any]]:
        """Score a fresh topic while it is fed; returns [events topic, predictions topic]
        (for the caller to drop once read) and the run's result."""
        topic, out = uid("fed-events"), uid("fed-out")
        ensure_topics(self.config, {topic: PARTITIONS}, create_missing=True)

        def feed() -> None:
            threading.Thread(target=produce, args=(self.config, topic, self.events[:count], rate),
                             daemon=True).start()

        return [topic, out], c.run(topic, out, count, feed=feed)

    def latency(self, rate: float, count: int, rounds: int) -> dict[str, dict[str, Any]]:
        """Latency quantiles of each contestant fed ``count`` events at ``rate``."""
        runs: dict[str, list[dict[str, Any]]] = {c.name: [] for c in self.contestants}
        for _ in range(rounds):
            for c in self.contestants:
                topics, _ = self.fed(c, count, rate)
                values = latencies(self.config, topics[1], count)
                drop_topics(self.config, topics)
                if len(values) < count:
                    raise RuntimeError(f"{c.name}: {len(values)} of {count} predictions")
                runs[c.name].append({f"p{q}_ms": quantile(values, q / 100) for q in (50, 95, 99)})
                print(f"latency {c.name}: {runs[c.name][-1]}", file=sys.stderr)
        return {
            name: {"rate": rate, "events": count,
                   **{key: statistics.median(r[key] for r in rs) for key in rs[0]},
                   "p99_runs": [r["p99_ms"] for r in rs]}
            for name, rs in runs.items()
        }


def measure(args: argparse.Namespace, bootstrap: str, model: Path) -> dict[str, Any]:
    """Throughput rounds, the 1-worker rate under load, then latency rounds at a set rate."""
    features, events = make_events(args.events)
    config = {"bootstrap_servers": [bootstrap]}
    bench = Bench(config, [Bare(bootstrap, model, features)] + [
        Streaming(bootstrap, model, features, w) for w in (1, 2)], events)
    source = uid("bench-events")
    ensure_topics(config, {source: PARTITIONS}, create_missing=True)
    produce(config, source, events, rate=None)
    throughput = bench.throughput(source, args.rounds)

    topics, result = bench.fed(bench.contestants[1], len(events), None)
    drop_topics(config, topics)
    loaded = result["events_per_s"]
    print(f"max rate under load pipeline_1w: {loaded}", file=sys.stderr)
    rate = args.latency_rate or round(loaded / 2)
    count = int(rate * args.latency_seconds)
    if count > len(events):
        bench.events = make_events(count)[1]
    return {"throughput": throughput, "loaded": loaded,
            "latency": bench.latency(rate, count, args.rounds)}


def main() -> None:
    args = parse_args()
    global MAX_WAIT_MS
    MAX_WAIT_MS = args.max_wait_ms

    import logging

    import ray

    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    ray.init(include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    model = build("breast_cancer", Path(sys.prefix).parent / "build" / "bench-models")
    with EmbeddedBroker() as broker:
        measured = measure(args, broker.bootstrap_servers, model)
    ray.shutdown()

    throughput = measured["throughput"]

    def median_rate(name: str) -> float:
        return statistics.median(r["events_per_s"] for r in throughput[name])

    bare = median_rate("bare")
    report = {
        "machine": {"cpus": psutil.cpu_count(), "events": args.events, "rounds": args.rounds,
                    "partitions": PARTITIONS, "model": "breast_cancer logistic regression"},
        "throughput": {
            name: {"events_per_s": median_rate(name),
                   "runs": [r["events_per_s"] for r in runs],
                   "rss_mb_per_worker": runs[-1]["rss_mb_per_worker"],
                   "ratio_to_bare": round(median_rate(name) / bare, 3)}
            for name, runs in throughput.items()
        },
        "max_rate_under_load_pipeline_1w": measured["loaded"],
        "latency": measured["latency"],
    }
    print(json.dumps(report, indent=2))
    if args.plot:
        plot(report, args.plot)


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(report["throughput"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.bar(names, [report["throughput"][n]["events_per_s"] for n in names])
    left.set_title("throughput (events/s)")
    for q, offset in (("p50", -0.25), ("p95", 0), ("p99", 0.25)):
        right.bar([i + offset for i in range(len(names))],
                  [report["latency"][n][f"{q}_ms"] for n in names], width=0.25, label=q)
    right.axhline(100, color="grey", linestyle="--", linewidth=1, label="p99 goal")
    right.set_xticks(range(len(names)), names)
    right.set_title(f"end-to-end latency (ms) at {report['latency'][names[0]]['rate']} ev/s")
    right.legend()
    fig.tight_layout()
    fig.savefig(path)
    print(f"plot written to {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
