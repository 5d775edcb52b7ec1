"""One scoring loop in-process (no Ray) draining a backlog: its CPU per event, and its waits.

The worker's loop (:class:`~streaminfer.pipelines.runtime.worker.ScoringLoop`, the model
in-process) runs on a thread of this process against the embedded broker and drains
``--events`` of benchmarks/peers.py's events (64 JSON features, 4 partitions) filled before
it starts; the heap is frozen first as a worker's is. Without Ray and py-spy in the way it
shows what a change does to the loop itself:

- ``loop_cpu_us_per_event``: the loop thread's CPU time over the events (the loop is
  CPU-bound on a backlog, so this is what a worker's rate is made of);
- ``busy``: that CPU time over the drain's wall time (below 1: the loop waited);
- ``source_poll_s``/``empty_polls``: time in the source's poll, and polls that brought
  nothing mid-backlog (librdkafka's fetch backoff showed as these);
- ``ack_wait_s``: time awaiting the sink's acknowledgements;
- ``collections``: the garbage collector's passes during the drain, by generation.

Each round runs in a fresh process; with ``--against PATH`` (another checkout) the rounds
alternate between the two, and the JSON gives both medians and their ratio:

    python benchmarks/loop_drain.py --events 400000 --rounds 3 --against ../old-checkout
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def drain(events: int, client: str, model_dir: Path) -> dict[str, Any]:
    """One drain in this process (the checkout on ``sys.path``); its figures."""
    import gc
    import logging
    import threading

    sys.path.insert(0, str(HERE))
    import peers
    from throughput import PARTITIONS, produce, uid

    from streaminfer.operators.model_runner import read_model_file
    from streaminfer.pipelines.kafka.embedded_broker import EmbeddedBroker
    from streaminfer.pipelines.kafka.topics import ensure_topics
    from streaminfer.pipelines.process.heap import freeze_heap
    from streaminfer.pipelines.runtime.assembly import build_scorer, load_model
    from streaminfer.pipelines.runtime.model_backends import LocalModel
    from streaminfer.pipelines.runtime.worker import ScoringLoop
    from streaminfer.waiting import wait_until

    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    model_path = peers.train_model(model_dir)
    values = peers.make_events(events)
    polls: list[tuple[float, float, int]] = []  # start, seconds, records
    waits: list[float] = []
    passes: list[tuple[float, float, int]] = []  # start, seconds, generation
    started: list[float] = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            passes.append((started[0], time.perf_counter() - started[0], info["generation"]))

    with EmbeddedBroker() as broker:
        config = {"bootstrap_servers": [broker.bootstrap_servers]}
        topic = uid("drain")
        ensure_topics(config, {topic: PARTITIONS}, create_missing=True)
        produce(config, topic, values, rate=None)
        del values
        spec = peers.ClientStreaming(broker.bootstrap_servers, model_path, 1, client).spec(
            topic, uid("drain-out"))
        ensure_topics(config, {spec.sink.predictions_topic: PARTITIONS,
                               spec.sink.dead_letter_topic: 1}, create_missing=True)
        model = spec.model_specs[0]
        scorer = build_scorer(spec, {model.model_name: LocalModel(
            load_model(model, read_model_file(model.path)))})
        loop = ScoringLoop(spec, broker.bootstrap_servers, scorer, "drain-0")
        source_poll, sink_wait = loop.source.poll, loop.sink.wait

        def timed_poll(timeout_ms: int, max_records: int) -> Any:
            at = time.perf_counter()
            records = source_poll(timeout_ms, max_records)
            polls.append((at, time.perf_counter() - at, len(records)))
            return records

        def timed_wait(acks: Any, timeout_s: float | None = None) -> int:
            at = time.perf_counter()
            try:
                return sink_wait(acks, timeout_s)
            finally:
                waits.append(time.perf_counter() - at)

        loop.source.poll = timed_poll  # type: ignore[method-assign]
        loop.sink.wait = timed_wait  # type: ignore[method-assign]
        cpu: list[float] = []

        def run() -> None:
            at = time.thread_time()
            loop.run()
            cpu.append(time.thread_time() - at)

        freeze_heap()  # as a worker does once set up
        gc.callbacks.append(on_gc)
        thread = threading.Thread(target=run, name="loop")
        thread.start()
        wait_until(lambda: loop.metrics.stats.events_in >= events or not thread.is_alive(),
                   600, every_s=0.05)
        loop.request_stop()
        thread.join(60)
        loop.close()
        gc.callbacks.remove(on_gc)
        stats = loop.stats(families=False)
    if stats.events_in < events or not cpu:
        raise RuntimeError(f"the loop read {stats.events_in} of {events} events")
    first = next(at for at, _, count in polls if count)
    end = (stats.last_batch_at or 0.0) - (stats.first_batch_at or 0.0)
    window = [p for p in polls if p[0] >= first and p[0] <= first + end]
    in_window = [p for p in passes if first <= p[0] <= first + end]
    return {
        "events_per_s": round(events / end),
        "loop_cpu_us_per_event": round(cpu[0] / events * 1e6, 2),
        "busy": round(min(1.0, cpu[0] / end), 3),
        "source_poll_s": round(sum(s for _, s, _ in window), 3),
        "empty_polls": sum(1 for _, _, count in window if not count),
        "ack_wait_s": round(sum(waits), 3),
        "collections": {str(gen): {"count": sum(1 for p in in_window if p[2] == gen),
                                   "s": round(sum(p[1] for p in in_window if p[2] == gen), 3)}
                        for gen in (0, 1, 2)},
    }


def _round(checkout: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One drain in a fresh process of ``checkout``."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--one", "--events", str(args.events),
         "--client", args.client, "--model-dir", str(args.model_dir)],
        env=env, cwd=checkout, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"a drain of {checkout} failed:\n{done.stderr[-2000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _medians(rounds: list[dict[str, Any]]) -> dict[str, float]:
    keys = ("events_per_s", "loop_cpu_us_per_event", "busy", "source_poll_s", "ack_wait_s")
    return {key: statistics.median(r[key] for r in rounds) for key in keys}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--client", default="confluent", help="kafka.client")
    parser.add_argument("--against", type=Path, help="another checkout, alternated with this")
    parser.add_argument("--model-dir", type=Path,
                        default=Path(sys.prefix).parent / "build" / "bench-models")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(drain(args.events, args.client, args.model_dir)))
        return
    here = HERE.parent
    checkouts = {"this": here, **({"against": args.against.resolve()} if args.against else {})}
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in checkouts}
    for _ in range(args.rounds):
        for name, checkout in checkouts.items():
            rounds[name].append(_round(checkout, args))
    result: dict[str, Any] = {
        "what": f"one ScoringLoop in-process draining {args.events} peers events "
                f"({args.client}), rounds alternated, each a fresh process",
        "checkouts": {name: str(path) for name, path in checkouts.items()},
        "medians": {name: _medians(r) for name, r in rounds.items()},
        "rounds": rounds,
    }
    if args.against:
        this, other = result["medians"]["this"], result["medians"]["against"]
        result["this_over_against"] = {
            "events_per_s": round(this["events_per_s"] / other["events_per_s"], 3),
            "loop_cpu_us_per_event": round(
                this["loop_cpu_us_per_event"] / other["loop_cpu_us_per_event"], 3)}
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
