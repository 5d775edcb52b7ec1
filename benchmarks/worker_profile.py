"""Where one source worker's loop spends its time on a backlog: py-spy, grouped by step.

One embedded broker, a topic of ``--events`` breast_cancer events (30 JSON features each; with
``--events-of peers``, benchmarks/peers.py's 64 and its model; 4 partitions) filled before
the pipeline starts, then one worker (the model in-process,
batches of up to 256) drains it while ``py-spy record --idle --threads`` samples its
process. The samples of the loop's thread (``Loop.run``) are grouped by the step they were
in (the innermost one that matches, see :data:`STEPS`), waits included (``--idle``): the
shares are of the thread's wall time, which is what one worker's rate is made of. Prints
JSON (shares, samples, events/s while profiled); ``--raw FILE`` keeps py-spy's stacks.

Before and after a change, run it from this checkout with the other one on the path:

    PYTHONPATH=../old-checkout python benchmarks/worker_profile.py --events 40000
    python benchmarks/worker_profile.py --events 40000
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

#: Steps of the loop, each a (name, file suffix, function) that marks a frame of it; a
#: sample counts for the innermost frame that matches one.
STEPS: list[tuple[str, str, str]] = [
    ("Kafka: await acks (sink wait)", "kafka/sink.py", "wait"),
    ("Kafka: produce (sink send)", "kafka/sink.py", "send"),
    ("Kafka: produce (sink send)", "kafka/sink.py", "send_many"),
    ("Kafka: commit", "kafka/source.py", "commit"),
    ("Kafka: poll", "kafka/source.py", "poll"),
    # kafka.client: confluent (confluent.py held the sink before confluent_sink.py)
    ("Kafka: await acks (sink wait)", "kafka/confluent_sink.py", "wait"),
    ("Kafka: produce (sink send)", "kafka/confluent_sink.py", "send"),
    ("Kafka: produce (sink send)", "kafka/confluent_sink.py", "send_many"),
    ("Kafka: await acks (sink wait)", "kafka/confluent.py", "wait"),
    ("Kafka: produce (sink send)", "kafka/confluent.py", "send"),
    ("Kafka: commit", "kafka/confluent.py", "commit"),
    ("Kafka: poll", "kafka/confluent.py", "poll"),
    ("lag and metrics", "runtime/worker_metrics.py", ""),
    ("lag and metrics", "runtime/batch_histogram.py", ""),
    ("lag and metrics", "kafka/source.py", "lag"),
    ("decode (JSON)", "runtime/scoring.py", "_decode"),
    ("decode (JSON)", "operators/feature_decode.py", "decode"),  # the fast path
    ("model run (ONNX Runtime)", "runtime/model_backends.py", ""),
    ("model run (ONNX Runtime)", "operators/model_runner.py", ""),
    ("predictions: post-process and encode", "runtime/scoring.py", "finish"),
    ("features and routing (rest of prepare)", "runtime/scoring.py", "prepare"),
]


def _function(frame: str) -> str:
    """``Class.method`` of a py-spy frame ``Class.method (path/file.py:12)``, as ``method``."""
    return frame.split(" (", 1)[0].rsplit(".", 1)[-1]


def step_of(frames: list[str]) -> str:
    """The step of one sample's stack (outermost frame first)."""
    for frame in reversed(frames):
        for name, suffix, function in STEPS:
            if f"{suffix}:" in frame and (not function or _function(frame) == function):
                return name
    return "rest of the loop"


def shares(raw: str) -> dict[str, Any]:
    """py-spy's raw (collapsed) stacks -> the loop thread's samples by step."""
    steps: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if not any(_function(f) == "run" and "runtime/loop.py:" in f for f in frames):
            continue  # not the loop's thread
        steps[step_of(frames)] += int(count)
    total = sum(steps.values())
    return {"samples_in_worker_loop": total,
            "share_of_worker_loop": {name: round(n / total, 3)
                                     for name, n in steps.most_common()} if total else {}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples a second")
    parser.add_argument("--raw", type=Path, help="keep py-spy's raw stacks here")
    parser.add_argument("--client", default="kafka-python", help="kafka.client")
    parser.add_argument("--events-of", choices=["breast_cancer", "peers"],
                        default="breast_cancer",
                        help="peers: benchmarks/peers.py's 64-feature events and model")
    parser.add_argument("--model-dir", type=Path,
                        default=Path(sys.prefix).parent / "build" / "bench-models")
    args = parser.parse_args()

    import logging

    import ray

    sys.path.insert(0, str(HERE))
    from throughput import PARTITIONS, Streaming, make_events, produce, uid

    import streaminfer
    from streaminfer import Pipeline
    from streaminfer.pipelines.devtools.example_models import build
    from streaminfer.pipelines.kafka.embedded_broker import EmbeddedBroker
    from streaminfer.pipelines.kafka.topics import ensure_topics
    from streaminfer.waiting import wait_until

    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    if args.events_of == "peers":
        import peers

        model = peers.train_model(args.model_dir)
        features, events = peers.FEATURES, peers.make_events(args.events)
    else:
        model = build("breast_cancer", args.model_dir)
        features, events = make_events(args.events)
    ray.init(include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False,
             num_cpus=8)
    raw_path = args.raw or Path(tempfile.mkdtemp()) / "worker.txt"
    with EmbeddedBroker() as broker:
        config = {"bootstrap_servers": [broker.bootstrap_servers]}
        topic = uid("profile")
        ensure_topics(config, {topic: PARTITIONS}, create_missing=True)
        produce(config, topic, events, rate=None)
        contestant = Streaming(broker.bootstrap_servers, model, features, 1)
        spec = contestant.spec(topic, uid("profile-out"))
        spec = spec.model_copy(update={"kafka": spec.kafka.model_copy(
            update={"client": args.client})})
        pipeline = Pipeline(spec).start()
        try:
            pid = pipeline.wait_ready().stats().workers[0].pid
            spy = subprocess.Popen(
                [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid),
                 "--rate", str(args.rate), "--idle", "--threads", "--nonblocking",
                 "--format", "raw", "--output", str(raw_path)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if not wait_until(lambda: pipeline.stats().events_in >= args.events, 600,
                              every_s=0.25):
                raise RuntimeError(f"{pipeline.stats().events_in}/{args.events} after 600 s")
            stats = pipeline.stats()
            spy.send_signal(signal.SIGINT)  # py-spy writes its stacks on SIGINT
            spy.wait(60)
        finally:
            pipeline.stop()
    ray.shutdown()
    worker = stats.workers[0]
    seconds = (worker.last_batch_at or 0) - (worker.first_batch_at or 0)
    report = {
        "what": "py-spy record --idle (wall time, waits included) of the one source worker "
                f"of a {args.events_of} pipeline draining {args.events} events, its loop "
                "thread's samples by step",
        "streaminfer": str(Path(streaminfer.__file__).resolve().parent.parent),
        "events": args.events, "client": args.client,
        "events_per_s_while_profiled": round(args.events / seconds, 1) if seconds else None,
        **shares(raw_path.read_text()),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
