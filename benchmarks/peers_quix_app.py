"""The Quix Streams contestant of ``peers.py``: consume -> JSON -> ONNX (one message at a
time) -> produce, written as Quix Streams' documentation shows it.

It runs in its own virtualenv (quixstreams 3.28.1 pins confluent-kafka and pydantic versions
that the project's venv does not take; ``peers.py`` makes it), so it imports nothing from
streaminfer. Run by ``peers.py`` as a subprocess:

    QUIX_VENV/bin/python benchmarks/peers_quix_app.py BOOTSTRAP TOPIC GROUP OUT_TOPIC MODEL \
        FEATURES_JSON COUNT [FETCH_WAIT_MS]

One setting goes beyond the documentation's app: FETCH_WAIT_MS, when given, is the consumer's
``fetch.wait.max.ms`` (librdkafka's default is 500). The embedded broker holds every fetch
that long before it answers, where Kafka answers once data is there; the other contestants
wait 10 ms.

Processing guarantee at-least-once (the default: offsets committed on Quix's checkpoints,
after the producer's deliveries are acknowledged). It stops itself once it has processed
COUNT messages (``app.run(count=...)``). It says "ready" on stderr once it is assigned
partitions, and prints one JSON line at the end: events, seconds (first message to the last
one processed), events_per_s, seconds_to_exit (first message to ``app.run`` returning: the
last checkpoint's flush and commit, and the consumer's close), max_rss_mb.
"""

from __future__ import annotations

import json
import logging
import resource
import sys
import time

import numpy as np
import onnxruntime as ort
from quixstreams import Application


class ReadySignal(logging.Filter):
    """Says "ready" on stderr when Quix logs that it was assigned partitions (its debug
    line), and keeps the other debug lines of ``quixstreams.app`` quiet."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage().startswith("Rebalancing: assigning partitions"):
            print("ready", file=sys.stderr, flush=True)
        return record.levelno > logging.DEBUG


def main() -> None:
    bootstrap, topic, group, out_topic, model_path, features_json, count = sys.argv[1:8]
    fetch_wait_ms = sys.argv[8:9]
    features = json.loads(features_json)
    total = int(count)

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name

    times: dict[str, float] = {}
    done = [0]

    def processed(_topic: str, _partition: int, _offset: int) -> None:
        times["last"] = time.perf_counter()

    app = Application(
        broker_address=bootstrap,
        consumer_group=group,
        auto_offset_reset="earliest",
        on_message_processed=processed,
        consumer_extra_config={"fetch.wait.max.ms": int(fetch_wait_ms[0])} if fetch_wait_ms
        else None,
    )
    app_log = logging.getLogger("quixstreams.app")
    app_log.addFilter(ReadySignal())
    app_log.setLevel(logging.DEBUG)

    events = app.topic(topic, value_deserializer="json")
    predictions = app.topic(out_topic, value_serializer="json")

    def score(event: dict, _key: bytes, timestamp: int, _headers: object) -> dict:
        if not done[0]:
            times["first"] = time.perf_counter()
        done[0] += 1
        row = np.asarray([[event[f] for f in features]], dtype=np.float32)
        labels, probabilities = session.run(None, {input_name: row})
        now_ms = int(time.time() * 1000)
        return {"id": event["id"], "label": int(labels[0]),
                "probabilities": probabilities[0].tolist(),
                "latency_ms": now_ms - timestamp, "ts": now_ms}

    sdf = app.dataframe(events)
    sdf = sdf.apply(score, metadata=True)
    sdf.to_topic(predictions)

    app.run(count=total, collect=False)
    exited = time.perf_counter()

    first = times.get("first", exited)
    seconds = max(times.get("last", exited) - first, 1e-6)
    print(json.dumps({
        "events": done[0], "seconds": round(seconds, 3),
        "events_per_s": round(done[0] / seconds, 1),
        "seconds_to_exit": round(exited - first, 3),
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))


if __name__ == "__main__":
    main()
