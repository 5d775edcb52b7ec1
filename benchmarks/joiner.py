"""The feedback joiner: labels/s against a source worker's events/s, and its memory.

One embedded broker, one process, the same events for both contestants, rounds alternating:

1. source: a source worker's loop (``ScoringLoop``, in-process, no Ray; predictions carry
   their 30 features, as with ``feedback:``) drains N breast-cancer events. events/s.
2. joiner: the joiner's loop (``JoinLoop``, in-process) drains those N predictions and N
   labels (keyed like the events, so co-partitioned) until every example is produced and
   acknowledged. labels/s (and records/s: predictions + labels).
3. memory: what a ``JoinState`` allocates (tracemalloc) holding ``--pending`` real
   predictions (their encoded bytes, as the joiner keeps them) that wait for labels.

Prints JSON; ``--plot FILE.png`` draws it.

    python benchmarks/joiner.py [--events 20000] [--rounds 2] [--pending 1000000] [--plot F]
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import orjson
import psutil
from throughput import PARTITIONS, drop_topics, make_events, produce, uid

from streaminfer import PipelineSpec
from streaminfer.operators.join_state import JoinState
from streaminfer.pipelines.devtools.example_models import build
from streaminfer.pipelines.kafka.embedded_broker import EmbeddedBroker
from streaminfer.pipelines.kafka.topic_reader import TopicReader
from streaminfer.pipelines.kafka.topics import ensure_topics
from streaminfer.pipelines.runtime.assembly import build_scorer, load_model
from streaminfer.pipelines.runtime.joiner import JoinLoop
from streaminfer.pipelines.runtime.model_backends import LocalModel
from streaminfer.pipelines.runtime.worker import ScoringLoop
from streaminfer.pipelines.spec.kafka_settings import client_config

TIMEOUT_S = 600.0


def make_spec(bootstrap: str, model: Path, features: list[str]) -> PipelineSpec:
    """A pipeline with feedback on, on fresh topics."""
    return PipelineSpec.model_validate({
        "name": uid("bench"),
        "kafka": {"bootstrap_servers": bootstrap},
        "source": {"topics": [uid("events")], "group_id": uid("g"), "features": features,
                   "id_field": "id", "partitions": PARTITIONS, "fetch_max_wait_ms": 100},
        "model": {"path": str(model)},
        "batching": {"max_size": 1024, "max_wait_ms": 50},
        "sink": {"predictions_topic": uid("preds"), "dead_letter_topic": uid("dlq"),
                 "linger_ms": 50},
        "feedback": {"labels_topic": uid("labels"), "training_topic": uid("examples"),
                     "flush_every_ms": 250, "max_pending": 10_000_000},
        "metrics": {"enabled": False},
    })


def produce_labels(config: dict[str, Any], topic: str, count: int) -> None:
    """Labels of events 0..count-1, keyed like the events (murmur2, kafka-python's
    partitioner, so each label lands in its prediction's partition)."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": ",".join(config["bootstrap_servers"]),
                         "acks": "all", "linger.ms": 20, "partitioner": "murmur2_random",
                         "log_level": 3})
    for i in range(count):
        while True:
            try:
                producer.produce(topic, key=str(i).encode(),
                                 value=orjson.dumps({"id": f"e{i}", "label": i % 2}))
                break
            except BufferError:
                producer.poll(0.01)
        producer.poll(0)
    if producer.flush(60):
        raise RuntimeError("labels not acknowledged")


def drain_source(spec: PipelineSpec, bootstrap: str, count: int) -> dict[str, Any]:
    model = spec.model_specs[0]
    scorer = build_scorer(spec, {model.model_name: LocalModel(
        load_model(model, model.path.read_bytes()))})
    loop = ScoringLoop(spec, bootstrap, scorer, "bench-source")
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while loop.metrics.stats.events_in < count and time.monotonic() < deadline:
            loop.step()
        loop.finish()
        stats = loop.metrics.stats
    finally:
        loop.close()
    assert stats.first_batch_at is not None and stats.last_batch_at is not None
    seconds = max(stats.last_batch_at - stats.first_batch_at, 1e-6)
    return {"events": stats.events_in, "seconds": round(seconds, 3),
            "events_per_s": round(stats.events_in / seconds, 1)}


def drain_joiner(spec: PipelineSpec, bootstrap: str, count: int) -> dict[str, Any]:
    loop = JoinLoop(spec, bootstrap, "bench-joiner", list(range(PARTITIONS)))
    started: float | None = None
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while loop.metrics.stats.examples_out < count and time.monotonic() < deadline:
            loop.step()
            if started is None and sum(loop.metrics.stats.records_in.values()):
                started = time.monotonic()
        done = time.monotonic()
        out = loop.metrics.stats.examples_out
    finally:
        loop.close()
    assert started is not None
    seconds = max(done - started, 1e-6)
    return {"labels": count, "examples": out, "seconds": round(seconds, 3),
            "labels_per_s": round(count / seconds, 1),
            "records_per_s": round(2 * count / seconds, 1)}


def round_trip(bootstrap: str, config: dict[str, Any], model: Path, features: list[str],
               events: list[bytes]) -> tuple[dict[str, Any], dict[str, Any]]:
    spec = make_spec(bootstrap, model, features)
    fb = spec.feedback
    assert fb is not None
    source = spec.source.topics[0]
    topics = [source, spec.sink.predictions_topic, spec.sink.dead_letter_topic,
              fb.labels_topic, fb.training_topic]
    ensure_topics(config, dict.fromkeys(topics, PARTITIONS), create_missing=True)
    produce(config, source, events, None)
    produce_labels(config, fb.labels_topic, len(events))
    scored = drain_source(spec, bootstrap, len(events))
    joined = drain_joiner(spec, bootstrap, len(events))
    drop_topics(config, topics)
    return scored, joined


def memory(pending: int, prediction: bytes, every: int) -> list[dict[str, float]]:
    """Memory held (Python allocations, by tracemalloc: the values, keys, entries and
    indexes) while ``pending`` predictions wait for their labels."""
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    state = JoinState(prediction_wait_s=3600, label_wait_s=3600, max_pending=pending + 1)
    points = []
    for i in range(pending):
        value = prediction.replace(b'"e0"', f'"e{i}"'.encode(), 1)
        state.add_prediction(f"e{i}", value, partition=i % PARTITIONS, offset=i // PARTITIONS,
                             now=0.0)
        if (i + 1) % every == 0:
            grown = tracemalloc.get_traced_memory()[0] - base
            points.append({"pending": i + 1, "mb": round(grown / 2**20, 1),
                           "bytes_per_entry": round(grown / (i + 1), 1)})
    tracemalloc.stop()
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--pending", type=int, default=1_000_000)
    parser.add_argument("--plot", type=Path)
    args = parser.parse_args()

    import logging

    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    model = build("breast_cancer", Path(sys.prefix).parent / "build" / "bench-models")
    features, events = make_events(args.events)
    sources, joiners = [], []
    with EmbeddedBroker() as broker:
        bootstrap = broker.bootstrap_servers
        config = client_config(make_spec(bootstrap, model, features).kafka, bootstrap)
        prediction = b""
        for _ in range(args.rounds):
            scored, joined = round_trip(bootstrap, config, model, features, events)
            sources.append(scored)
            joiners.append(joined)
            print(json.dumps({"source": scored, "joiner": joined}), file=sys.stderr)
        spec = make_spec(bootstrap, model, features)
        # one real prediction (with its features) as the memory test's value
        ensure_topics(config, {spec.source.topics[0]: 1, spec.sink.predictions_topic: 1},
                      create_missing=True)
        produce(config, spec.source.topics[0], events[:1], None)
        drain_source(spec, bootstrap, 1)
        with TopicReader(config, [spec.sink.predictions_topic]) as reader:
            prediction = reader.read(1, 60)[0].value or b""
    points = memory(args.pending, prediction, max(1, args.pending // 10))
    events_per_s = statistics.median(s["events_per_s"] for s in sources)
    labels_per_s = statistics.median(j["labels_per_s"] for j in joiners)
    report = {
        "settings": {"events": args.events, "rounds": args.rounds, "partitions": PARTITIONS,
                     "pending": args.pending, "prediction_bytes": len(prediction),
                     "cpus": psutil.cpu_count()},
        "source_events_per_s": events_per_s,
        "joiner_labels_per_s": labels_per_s,
        "ratio_labels_per_event": round(labels_per_s / events_per_s, 2),
        "rounds": {"source": sources, "joiner": joiners},
        "memory": points,
    }
    print(json.dumps(report, indent=2))
    if args.plot:
        plot(report, args.plot)


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    names = ["source worker\nevents/s", "joiner\nlabels/s"]
    values = [report["source_events_per_s"], report["joiner_labels_per_s"]]
    left.bar(names, values, color=["#888888", "#2b7bba"])
    for x, v in enumerate(values):
        left.text(x, v, f"{v:,.0f}", ha="center", va="bottom")
    left.set_title(f"drain of {report['settings']['events']:,} events + labels "
                   f"(median of {report['settings']['rounds']})")
    points = report["memory"]
    right.plot([p["pending"] for p in points], [p["mb"] for p in points], marker="o")
    right.set_xlabel("pending predictions")
    right.set_ylabel("memory held (MB, tracemalloc)")
    right.set_title(f"joiner memory ({report['settings']['prediction_bytes']} B predictions)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
