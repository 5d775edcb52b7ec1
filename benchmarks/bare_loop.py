"""The baseline: one process, kafka-python consume -> decode -> ONNX -> produce -> commit.

Deliberately written without streaminfer's operators, as a user would write it by hand, so the
benchmark compares the pipeline against plain code. Run by ``throughput.py`` as a subprocess:

    python benchmarks/bare_loop.py BOOTSTRAP TOPIC GROUP OUT_TOPIC MODEL FEATURES_JSON COUNT

It says "ready" on stderr once it owns partitions, and prints one JSON line at the end:
events, seconds (first record to last commit), events_per_s, rss_mb.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import onnxruntime as ort
import orjson
import psutil
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata


def main() -> None:
    bootstrap, topic, group, out_topic, model_path, features_json, count = sys.argv[1:8]
    features = json.loads(features_json)
    total = int(count)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    consumer = KafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
        auto_offset_reset="earliest", max_poll_records=256, fetch_max_wait_ms=10,
    )
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2,
                             batch_size=256 * 1024)
    done = 0
    started = None
    ready = False
    while done < total:
        batches = consumer.poll(timeout_ms=100, max_records=256)
        if not ready and consumer.assignment():
            print("ready", file=sys.stderr, flush=True)
            ready = True
        records = [r for rs in batches.values() for r in rs]
        if not records:
            continue
        if started is None:
            started = time.perf_counter()
        events = [orjson.loads(r.value) for r in records]
        matrix = np.asarray([[e[f] for f in features] for e in events], dtype=np.float32)
        labels, probabilities = session.run(None, {input_name: matrix})
        now_ms = int(time.time() * 1000)
        for record, event, label, proba in zip(records, events, labels.tolist(),
                                               probabilities.tolist(), strict=True):
            value = {"id": event["id"], "label": label, "probabilities": proba,
                     "latency_ms": now_ms - record.timestamp, "ts": now_ms}
            producer.send(out_topic, key=record.key, value=orjson.dumps(value))
        producer.flush()
        offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        for record in records:
            offsets[TopicPartition(record.topic, record.partition)] = OffsetAndMetadata(
                record.offset + 1, "", -1)
        consumer.commit(offsets)
        done += len(records)
    seconds = time.perf_counter() - (started or time.perf_counter())
    rss = psutil.Process().memory_info().rss / 2**20
    consumer.close()
    producer.close()
    print(json.dumps({"events": done, "seconds": round(seconds, 3),
                      "events_per_s": round(done / seconds, 1), "rss_mb": round(rss, 1)}))


if __name__ == "__main__":
    main()
