"""Colocated against Ray Serve model replicas, and how throughput scales with workers.

One embedded broker, one model (the demo's breast-cancer classifier), the same events:

1. throughput (a full topic drained) and latency (a topic fed at ``--rate`` events/s) for
   colocated with 1 and 2 workers, and serve with 1/2 workers x 1/2 replicas;
2. the scaling curve: events/s against workers (1..4) for colocated and for serve with 2
   replicas, drawn to ``--plot`` (PNG).

Prints JSON. ``ratio_to_colocated`` compares each serve setting with colocated at the same
worker count (the issue's goal: at least 0.7 on CPU for this model).

    python benchmarks/serving.py [--events 20000] [--rate 2000] [--plot serving.png]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
from pathlib import Path
from typing import Any

import ray

from streaminfer.pipelines.devtools.example_models import build
from streaminfer.pipelines.kafka.embedded_broker import EmbeddedBroker
from streaminfer.pipelines.kafka.topics import ensure_topics
from streaminfer.pipelines.runtime.worker_metrics import quantile

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import PARTITIONS, Streaming, latencies, make_events, produce, uid


def served(replicas: int) -> dict[str, Any]:
    return {"serving": "serve", "serve": {
        "min_replicas": replicas, "max_replicas": replicas, "num_cpus": 0.5,
        "max_batch_size": 8, "batch_wait_timeout_s": 0.0, "max_in_flight": 2}}


def drain(c: Streaming, config: dict[str, Any], source: str, count: int) -> float:
    return float(c.run(source, uid("out"), count)["events_per_s"])


def paced(c: Streaming, config: dict[str, Any], events: list[bytes], rate: float) -> dict:
    topic, out = uid("paced"), uid("paced-out")
    ensure_topics(config, {topic: PARTITIONS}, create_missing=True)

    def feed() -> None:
        threading.Thread(target=produce, args=(config, topic, events, rate), daemon=True).start()

    c.run(topic, out, len(events), feed=feed)
    values = latencies(config, out, len(events))
    return {f"p{q}_ms": quantile(values, q / 100) for q in (50, 99)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=2_000.0)
    parser.add_argument("--latency-seconds", type=float, default=6.0)
    parser.add_argument("--max-workers", type=int, default=4)
    parser.add_argument("--plot", type=Path, default=None)
    args = parser.parse_args()
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    ray.init(include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False,
             num_cpus=16)  # logical CPUs: replicas and workers reserve fractions of these
    model = build("breast_cancer", Path(sys.prefix).parent / "build" / "bench-models")
    features, events = make_events(max(args.events, int(args.rate * args.latency_seconds)))
    report: dict[str, Any] = {"events": args.events, "rate": args.rate, "modes": {},
                              "scaling": {"colocated": {}, "serve_2_replicas": {}}}
    with EmbeddedBroker() as broker:
        config = {"bootstrap_servers": [broker.bootstrap_servers]}
        source = uid("events")
        ensure_topics(config, {source: PARTITIONS}, create_missing=True)
        produce(config, source, events[: args.events], rate=None)

        def contestant(workers: int, replicas: int | None) -> Streaming:
            name = (f"colocated_{workers}w" if replicas is None
                    else f"serve_{workers}w_{replicas}r")
            options = served(replicas) if replicas is not None else None
            return Streaming(broker.bootstrap_servers, model, features, workers, options, name)

        settings = [(1, None), (2, None), (1, 1), (1, 2), (2, 1), (2, 2)]
        for workers, replicas in settings:
            c = contestant(workers, replicas)
            rate = drain(c, config, source, args.events)
            lat = paced(c, config, events[: int(args.rate * args.latency_seconds)], args.rate)
            report["modes"][c.name] = {"events_per_s": rate, **lat}
            print(f"{c.name}: {report['modes'][c.name]}", file=sys.stderr)
        for name, result in report["modes"].items():
            if name.startswith("serve_"):
                baseline = report["modes"][f"colocated_{name.split('_')[1]}"]["events_per_s"]
                result["ratio_to_colocated"] = round(result["events_per_s"] / baseline, 3)
        for workers in range(1, args.max_workers + 1):
            for label, replicas in (("colocated", None), ("serve_2_replicas", 2)):
                rate = drain(contestant(workers, replicas), config, source, args.events)
                report["scaling"][label][workers] = rate
                print(f"scaling {label} {workers}w: {rate}", file=sys.stderr)
    ray.shutdown()
    print(json.dumps(report, indent=2))
    if args.plot:
        plot(report, args.plot)


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    names = list(report["modes"])
    left.bar(names, [report["modes"][n]["events_per_s"] for n in names])
    left.set_title("throughput, events/s (full topic drained)")
    left.tick_params(axis="x", rotation=30)
    for label, curve in report["scaling"].items():
        workers = sorted(int(w) for w in curve)
        right.plot(workers, [curve[w] for w in workers], marker="o", label=label)
    right.set_xlabel("source workers")
    right.set_ylabel("events/s")
    right.set_xticks(range(1, max(int(w) for c in report["scaling"].values() for w in c) + 1))
    right.set_ylim(bottom=0)
    right.set_title("scaling with workers (2-core machine)")
    right.legend()
    fig.tight_layout()
    fig.savefig(path)
    print(f"plot written to {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
