"""Typed inputs: events/s of one pipeline worker against a hand-written loop, per model.

Two models with typed inputs, each scored from the same filled topic by:

- ``bare``: one process written by hand with kafka-python, as a user would (this file run
  with ``bare``): consume, ``orjson.loads``, one array per model input (``[n, 1]`` strings as
  objects, numbers as float32, a default where the config gives one), one ONNX Runtime call,
  the config's post-processing (threshold, class names, top-k), produce, flush, commit;
- ``pipeline_1w``: streaminfer with one source worker and the shipped config's ``model``
  section (``inputs``, ``outputs``, ``postprocess``), which also type-checks every value.

The models: ``fraud_mixed`` (configs/fraud-mixed.yaml: three string and three number inputs)
and ``text_classifier`` (configs/text-classifier.yaml: one string input, TF-IDF in the
graph). Rounds alternate the contestants; each figure is the median over rounds; the ratio
is pipeline/bare, in events/s and in events per CPU-second of the process that scores (the
bare loop's; the pipeline worker's, its Kafka and Ray threads included: steadier than wall
time on a loaded machine). Prints JSON. Keep it short on a shared machine:

    python benchmarks/inputs.py [--events 20000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import yaml

HERE = Path(__file__).resolve().parent
CONFIGS = HERE.parent / "configs"
MODELS = {"fraud_mixed": "fraud-mixed.yaml", "text_classifier": "text-classifier.yaml"}


def bare(argv: list[str]) -> None:
    """The hand-written loop: ``bare BOOTSTRAP TOPIC OUT_TOPIC MODEL PLAN_JSON COUNT``.
    Says "ready" on stderr once it owns partitions; prints one JSON line at the end."""
    import onnxruntime as ort
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    bootstrap, topic, out_topic, model_path, plan_json, count = argv
    plan = json.loads(plan_json)
    total = int(count)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
    consumer = KafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=f"bare-{uuid.uuid4().hex[:6]}",
        enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=256,
        fetch_max_wait_ms=10)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2,
                             batch_size=256 * 1024)
    classes, threshold, top_k = plan["classes"], plan["threshold"], plan["top_k"]
    label_field = plan["label_field"]
    done, started, cpu_started, ready = 0, None, 0.0, False
    while done < total:
        batches = consumer.poll(timeout_ms=100, max_records=256)
        if not ready and consumer.assignment():
            print("ready", file=sys.stderr, flush=True)
            ready = True
        records = [r for rs in batches.values() for r in rs]
        if not records:
            continue
        if started is None:
            started, cpu_started = time.perf_counter(), time.process_time()
        events = [orjson.loads(r.value) for r in records]
        feed = {}
        for name, (field, kind, default) in plan["inputs"].items():
            column = [[e.get(field, default)] for e in events]
            feed[name] = np.array(column, dtype=object if kind == "string" else np.float32)
        _, probabilities = session.run(None, feed)
        now_ms = int(time.time() * 1000)
        for record, event, scores in zip(records, events, probabilities.tolist(), strict=True):
            best = (int(scores[1] >= threshold) if threshold is not None
                    else max(range(len(scores)), key=scores.__getitem__))
            value: dict[str, Any] = {"id": event["id"], label_field: classes[best],
                                     "probabilities": scores}
            if top_k is not None:
                order = sorted(range(len(scores)), key=lambda i: -scores[i])[:top_k]
                value["top_k"] = [{"label": classes[i], "score": scores[i]} for i in order]
            value.update(latency_ms=now_ms - record.timestamp, ts=now_ms)
            producer.send(out_topic, key=record.key, value=orjson.dumps(value))
        producer.flush()
        consumer.commit({TopicPartition(r.topic, r.partition): OffsetAndMetadata(
            r.offset + 1, "", -1) for r in records})
        done += len(records)
    seconds = time.perf_counter() - (started or time.perf_counter())
    cpu_s = time.process_time() - cpu_started
    consumer.close()
    producer.close()
    print(json.dumps({"events": done, "seconds": round(seconds, 3),
                      "events_per_s": round(done / seconds, 1),
                      "events_per_cpu_s": round(done / cpu_s, 1)}))


def model_section(name: str) -> dict[str, Any]:
    model: dict[str, Any] = yaml.safe_load((CONFIGS / MODELS[name]).read_text())["model"]
    return {key: model[key] for key in ("inputs", "outputs", "postprocess")}


def plan_of(name: str, model_path: Path) -> dict[str, Any]:
    """What the bare loop needs from the config: each input's field, kind and default."""
    import onnxruntime as ort

    section = model_section(name)
    kinds = {i.name: i.type for i in ort.InferenceSession(
        str(model_path), providers=["CPUExecutionProvider"]).get_inputs()}
    inputs = {}
    for input_name, entry in section["inputs"].items():
        entry = {"field": entry} if isinstance(entry, str) else entry
        kind = "string" if kinds[input_name] == "tensor(string)" else "float"
        inputs[input_name] = (entry["field"], kind, entry.get("default"))
    post = section["postprocess"]
    return {"inputs": inputs, "classes": post["classes"], "threshold": post.get("threshold"),
            "top_k": post.get("top_k"), "label_field": section["outputs"]["label"]}


def make_events(name: str, count: int) -> list[bytes]:
    from streaminfer.pipelines.devtools.example_models import EXAMPLES

    data = EXAMPLES[name].dataset()
    fields = [model_section(name)["inputs"]["text"]] if name == "text_classifier" \
        else data.features
    return [orjson.dumps({"id": f"e{i}", **dict(zip(fields, data.X[i % len(data.X)].tolist(),
                                                      strict=True))})
            for i in range(count)]


def run_bare(bootstrap: str, topic: str, model: Path, plan: dict[str, Any],
             count: int) -> dict[str, Any]:
    from throughput import uid

    proc = subprocess.run(
        [sys.executable, __file__, "bare", bootstrap, topic, uid("bare-out"), str(model),
         json.dumps(plan), str(count)], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"bare loop failed: {proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def run_pipeline(pipeline: Any, source: str, out: str, count: int) -> dict[str, Any]:
    """``Streaming.run`` (events/s from the worker's batch times), and the worker process's
    CPU seconds from ready to done (its threads too: Kafka's, Ray's)."""
    import psutil

    from streaminfer.pipelines.online.pipeline import Pipeline
    from streaminfer.waiting import wait_until

    running = Pipeline(pipeline.spec(source, out)).start().wait_ready()
    try:
        worker = psutil.Process(running.stats().workers[0].pid)
        before = sum(worker.cpu_times()[:2])
        if not wait_until(lambda: running.stats().events_in >= count, 600, every_s=0.25):
            raise RuntimeError(f"pipeline: {running.stats().events_in}/{count} after 600s")
        cpu_s = sum(worker.cpu_times()[:2]) - before
        stats = running.stats()
    finally:
        running.stop()
    first = min(w.first_batch_at for w in stats.workers if w.first_batch_at)
    last = max(w.last_batch_at for w in stats.workers if w.last_batch_at)
    seconds = max(last - first, 1e-6)
    return {"events_per_s": round(stats.events_in / seconds, 1),
            "events_per_cpu_s": round(stats.events_in / cpu_s, 1)}


def count_records(config: dict[str, Any], topic: str) -> int:
    from streaminfer.pipelines.kafka.range_reader import read_range

    seen = []
    read_range(config, topic, each=lambda records: seen.append(len(records)))
    return sum(seen)


def measure(name: str, bootstrap: str, events: int, rounds: int, out_dir: Path
            ) -> dict[str, Any]:
    from throughput import PARTITIONS, Streaming, drop_topics, produce, uid

    from streaminfer.pipelines.devtools.example_models import build
    from streaminfer.pipelines.kafka.topics import ensure_topics

    model = build(name, out_dir)
    config = {"bootstrap_servers": [bootstrap]}
    source = uid(f"inputs-{name}")
    ensure_topics(config, {source: PARTITIONS}, create_missing=True)
    produce(config, source, make_events(name, events), rate=None)
    plan = plan_of(name, model)
    pipeline = Streaming(bootstrap, model, None, 1,  # type: ignore[arg-type]
                         model_options=model_section(name), name="pipeline_1w")
    runs: dict[str, list[float]] = {"bare": [], "pipeline_1w": []}
    cpu: dict[str, list[float]] = {"bare": [], "pipeline_1w": []}
    for _ in range(rounds):
        result = run_bare(bootstrap, source, model, plan, events)
        runs["bare"].append(result["events_per_s"])
        cpu["bare"].append(result["events_per_cpu_s"])
        out = uid("inputs-out")
        result = run_pipeline(pipeline, source, out, events)
        cpu["pipeline_1w"].append(result["events_per_cpu_s"])
        scored = count_records(config, out)
        drop_topics(config, [out])
        if scored != events:  # every event is valid: each one predicted, none dead-lettered
            raise RuntimeError(f"{name}: {scored} predictions of {events} events")
        runs["pipeline_1w"].append(result["events_per_s"])
        print(f"{name}: bare {runs['bare'][-1]}, pipeline_1w {runs['pipeline_1w'][-1]} "
              f"(per CPU-s: {cpu['bare'][-1]}, {cpu['pipeline_1w'][-1]})", file=sys.stderr)
    drop_topics(config, [source])
    medians = {k: statistics.median(v) for k, v in runs.items()}
    per_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    return {"events": events, "runs": runs, "events_per_s": medians,
            "ratio_pipeline_to_bare": round(medians["pipeline_1w"] / medians["bare"], 3),
            "cpu_runs": cpu, "events_per_cpu_s": per_cpu,
            "cpu_ratio_pipeline_to_bare": round(per_cpu["pipeline_1w"] / per_cpu["bare"], 3)}


def main() -> None:
    if sys.argv[1:2] == ["bare"]:
        bare(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--model-dir", type=Path,
                        default=Path(sys.prefix).parent / "build" / "bench-models",
                        help="where the example models are built (once)")
    args = parser.parse_args()

    import psutil
    import ray

    from streaminfer.pipelines.kafka.embedded_broker import EmbeddedBroker

    sys.path.insert(0, str(HERE))
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    ray.init(include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    with EmbeddedBroker() as broker:
        results = {name: measure(name, broker.bootstrap_servers, args.events, args.rounds,
                                 args.model_dir) for name in args.models}
    ray.shutdown()
    print(json.dumps({"machine": {"cpus": psutil.cpu_count(), "rounds": args.rounds,
                                  "workers": 1}, "models": results}, indent=2))


if __name__ == "__main__":
    main()
