"""Peers: events/s and latency of streaminfer against a hand-written loop and a Quix Streams
application, in the same run.

One embedded broker, one model, the same events for every contestant. The model is a
scikit-learn LogisticRegression trained here on seeded synthetic data (64 features), exported
by skl2onnx (zipmap off) once, to ``build/bench-models/peers_logreg64.onnx``. Events are JSON
objects: ``id`` and ``f0``..``f63``, on 4 partitions. Contestants, each with its own consumer
group and its own predictions topic (id, label, probabilities, latency_ms), each committing
after the producer's acknowledgements:

- ``bare``: the hand-written kafka-python loop (``bare_loop.py``, a subprocess, as
  ``throughput.py`` runs it): polls of up to 256, one ONNX Runtime call per poll;
- ``quix``: a Quix Streams 3.28.1 application written as its documentation shows
  (``peers_quix_app.py``: ``Application``, JSON deserializer, ``sdf.apply`` scoring one message
  with ONNX Runtime, ``sdf.to_topic``, at-least-once), in its own virtualenv, made on the first
  run (``build/peers-quix-venv``; quixstreams pins confluent-kafka<2.13 and pydantic<2.14,
  which the project's venv does not take; its onnxruntime is pinned to the project's
  version). One setting beyond the documentation: its consumer's ``fetch.wait.max.ms`` is
  ``--quix-fetch-wait-ms`` (10, as the others'; the embedded broker holds every fetch for
  all of librdkafka's default 500 ms, where Kafka answers once data is there);
- ``streaminfer_1w_<client>``, ``streaminfer_2w_<client>``: the pipeline with 1 and 2 source
  workers (``throughput.Streaming``: model in-process, batches of up to 256), for each Kafka
  client of ``--clients`` (the spec's ``kafka.client``). A streaminfer whose spec does not take
  that key (or that value) yet skips the client, with a line on stderr; ``default`` runs the
  pipeline without the key (its own client).

Throughput: a backlog of ``--events`` is produced once (librdkafka, ``throughput.produce``);
every round, each contestant drains it with a new consumer group, in an order that turns by
one each round. Each figure is the median over rounds; ratios to ``quix`` and to ``bare`` are
taken round by round (median, min, max), as ``pictures.py``'s ``ratio_by_round``. Every run's
predictions are counted (each event must give one). Timing: streaminfer from its first
batch to its last (``throughput.Streaming``), bare from its first poll with records to its
last commit, quix from its first message to the last one processed (its last checkpoint's
flush and commit come after; ``seconds_to_exit`` in the runs counts them and the close).

Latency: quix and each 1-worker streaminfer score a fresh topic fed at ``--paced-rate``
events/s for ``--paced-seconds``; p50/p95/p99 of ``latency_ms`` in the predictions (record
timestamp, set when handed to the producer, to the prediction being produced).

Prints JSON (machine, settings, runs, medians, ratios, latencies); ``--out FILE.json`` writes
it, ``--plot FILE.png`` draws events/s (ratios to quix marked) and the latencies (``--replot
FILE.json`` draws them again from an earlier run's JSON, nothing run). On a shared
machine keep it short; the full measurement:

    python benchmarks/peers.py [--events 40000] [--rounds 5] \\
        [--clients kafka-python,confluent] [--paced-rate 2000] [--paced-seconds 10] \\
        [--paced-rounds 1] [--max-wait-ms 10] [--out peers.json] [--plot peers.png]
"""

from __future__ import annotations

import argparse
import collections
import importlib.metadata
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import psutil
from throughput import PARTITIONS, Bare, Streaming, drop_topics, latencies, produce, uid

from streaminfer import PipelineSpec
from streaminfer.pipelines.kafka.embedded_broker import EmbeddedBroker
from streaminfer.pipelines.kafka.topic_reader import TopicReader
from streaminfer.pipelines.kafka.topics import ensure_topics
from streaminfer.pipelines.runtime.worker_metrics import quantile

HERE = Path(__file__).resolve().parent
BUILD = Path(sys.prefix).parent / "build"
FEATURES = [f"f{i}" for i in range(64)]
SEED = 7
TRAIN_ROWS, EVENT_ROWS = 20_000, 8_192
QUIX_VERSION = "3.28.1"
#: How long a contestant fed at a set rate may take to own its partitions before the feed
#: starts anyway.
READY_TIMEOUT_S = 120.0
RUN_TIMEOUT_S = 600.0


def train_model(out_dir: Path) -> Path:
    """A LogisticRegression on seeded synthetic 64-feature data, as ONNX (skl2onnx, zipmap
    off: outputs ``label`` and ``probabilities``); written once, reused after."""
    path = out_dir / "peers_logreg64.onnx"
    if path.exists():
        return path
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    from streaminfer.operators.model_runner import write_model_file

    X, y = dataset()
    model = LogisticRegression(max_iter=1_000).fit(X[:TRAIN_ROWS], y[:TRAIN_ROWS])
    onx = to_onnx(model, X[:1].astype(np.float32), options={id(model): {"zipmap": False}},
                  target_opset={"": 17, "ai.onnx.ml": 3})
    return write_model_file(onx.SerializeToString(), path)


def dataset() -> tuple[np.ndarray, np.ndarray]:
    """Seeded synthetic data: rows of 64 features (24 informative) and a binary class; the
    first ``TRAIN_ROWS`` train the model, the others are the events' features."""
    from sklearn.datasets import make_classification

    return make_classification(n_samples=TRAIN_ROWS + EVENT_ROWS, n_features=len(FEATURES),
                               n_informative=24, n_redundant=8, random_state=SEED)


def make_events(count: int) -> list[bytes]:
    """``count`` JSON events (``id``, ``f0``..``f63`` to 4 decimals), cycling over the
    ``EVENT_ROWS`` rows the model was not trained on."""
    pool = dataset()[0][TRAIN_ROWS:].round(4).tolist()
    return [orjson.dumps({"id": f"e{i}", **dict(zip(FEATURES, pool[i % len(pool)],
                                                    strict=True))})
            for i in range(count)]


def quix_python(venv: Path) -> Path:
    """The python of the Quix Streams virtualenv, made (or brought to the requirements)
    first if needed: quixstreams, and the project's onnxruntime version."""
    import onnxruntime  # the project may have onnxruntime-gpu: the version, not the name

    python = venv / "bin" / "python"
    requirements = [f"quixstreams=={QUIX_VERSION}", f"onnxruntime=={onnxruntime.__version__}",
                    "numpy", "orjson"]
    marker = venv / "peers-requirements.txt"
    wanted = "\n".join(requirements) + "\n"
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    print(f"making the Quix Streams virtualenv {venv} (once): {' '.join(requirements)}",
          file=sys.stderr)
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q",
                    *requirements], check=True, stdout=sys.stderr)
    marker.write_text(wanted)
    return python


def quix_versions(python: Path) -> dict[str, str]:
    code = ("import importlib.metadata as m, json; print(json.dumps({p: m.version(p) for p in "
            "('quixstreams', 'confluent-kafka', 'onnxruntime', 'numpy')}))")
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True,
                          check=True)
    versions: dict[str, str] = json.loads(proc.stdout)
    return versions


class Quix:
    """The Quix Streams application (``peers_quix_app.py``) as a subprocess of its venv."""

    name = "quix"

    def __init__(self, python: Path, bootstrap: str, model: Path, workdir: Path,
                 fetch_wait_ms: int) -> None:
        self.python, self.bootstrap, self.model, self.workdir = python, bootstrap, model, workdir
        self.fetch_wait_ms = fetch_wait_ms

    def run(self, topic: str, out_topic: str, count: int,
            feed: Any = None) -> dict[str, Any]:
        self.workdir.mkdir(parents=True, exist_ok=True)  # its cwd: Quix's state folder
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        proc = subprocess.Popen(
            [str(self.python), str(HERE / "peers_quix_app.py"), self.bootstrap, topic,
             uid("quix"), out_topic, str(self.model), json.dumps(FEATURES), str(count),
             *([str(self.fetch_wait_ms)] if self.fetch_wait_ms else [])],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=self.workdir,
            env=env,
        )
        assert proc.stdout is not None and proc.stderr is not None
        ready = threading.Event()
        tail: collections.deque[str] = collections.deque(maxlen=40)

        def drain(stream: Any) -> None:
            for line in stream:
                if line.strip() == "ready":
                    ready.set()
                else:
                    tail.append(line)

        reader = threading.Thread(target=drain, args=(proc.stderr,), daemon=True)
        reader.start()
        try:
            if feed:
                deadline = time.monotonic() + READY_TIMEOUT_S
                while not ready.wait(0.1) and proc.poll() is None:
                    if time.monotonic() > deadline:
                        print(f"quix: not ready after {READY_TIMEOUT_S:.0f}s; feeding anyway",
                              file=sys.stderr)
                        break
                feed()
            proc.wait(timeout=RUN_TIMEOUT_S)  # its stdout is one line: the pipe never fills
            stdout = proc.stdout.read()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        reader.join(5)
        if proc.returncode != 0:
            raise RuntimeError(f"quix app failed ({proc.returncode}): {''.join(tail)[-2000:]}")
        result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
        return result


class ClientStreaming(Streaming):
    """``throughput.Streaming`` with ``kafka.client`` set (``default``: not set)."""

    def __init__(self, bootstrap: str, model: Path, workers: int, client: str,
                 max_wait_ms: int = 10) -> None:
        super().__init__(bootstrap, model, FEATURES, workers,
                         name=f"streaminfer_{workers}w_{client}")
        self.client = client
        self.max_wait_ms = max_wait_ms

    def spec(self, topic: str, out_topic: str) -> PipelineSpec:
        kafka: dict[str, Any] = {"bootstrap_servers": self.bootstrap, "session_timeout_ms": 6000,
                                 "heartbeat_interval_ms": 500}
        if self.client != "default":
            kafka["client"] = self.client
        return PipelineSpec.model_validate({
            "name": uid("peers"),
            "kafka": kafka,
            "source": {"topics": [topic], "group_id": uid("g"), "features": self.features,
                       "id_field": "id", "partitions": PARTITIONS},
            "model": {"path": str(self.model), **self.model_options},
            "batching": {"max_size": 256, "max_wait_ms": self.max_wait_ms},
            "sink": {"predictions_topic": out_topic, "dead_letter_topic": uid("dlq")},
            "workers": {"count": self.workers, "num_cpus": 0.5},
            "metrics": {"enabled": False},
        })


def client_refused(bootstrap: str, model: Path, client: str) -> str | None:
    """Why this streaminfer's spec refuses ``kafka.client: <client>``; None if it takes it."""
    from pydantic import ValidationError

    try:
        ClientStreaming(bootstrap, model, 1, client).spec("peers-probe", "peers-probe-out")
    except ValidationError as exc:
        errors = [e for e in exc.errors() if tuple(e["loc"][:2]) == ("kafka", "client")]
        if not errors:
            raise
        return str(errors[0]["msg"])
    return None


Contestant = Bare | Quix | ClientStreaming


def count_predictions(config: dict[str, Any], topic: str, count: int) -> tuple[int, list[str]]:
    """How many predictions ``topic`` holds (reading stops at ``count``), and the fields of
    the first."""
    with TopicReader(config, [topic]) as reader:
        records = reader.read(count, 120)
    fields = sorted(orjson.loads(records[0].value)) if records else []
    return len(records), fields


def throughput(config: dict[str, Any], contestants: list[Contestant], events: list[bytes],
               rounds: int) -> tuple[dict[str, list[dict[str, Any]]], dict[str, list[str]]]:
    """Each contestant drains the same filled topic once a round; the order turns by one
    each round. Returns every run's result, and each contestant's prediction fields."""
    source = uid("peers-events")
    ensure_topics(config, {source: PARTITIONS}, create_missing=True)
    produce(config, source, events, rate=None)
    results: dict[str, list[dict[str, Any]]] = {c.name: [] for c in contestants}
    fields: dict[str, list[str]] = {}
    for r in range(rounds):
        for c in contestants[r % len(contestants):] + contestants[:r % len(contestants)]:
            out = uid("peers-out")
            result = c.run(source, out, len(events))
            scored, fields[c.name] = count_predictions(config, out, len(events))
            drop_topics(config, [out])
            if scored < len(events):
                raise RuntimeError(f"{c.name}: {scored} predictions of {len(events)} events")
            results[c.name].append(result)
            print(f"round {r + 1} {c.name}: {result}", file=sys.stderr)
    drop_topics(config, [source])
    return results, fields


def paced(config: dict[str, Any], contestants: list[Contestant], events: list[bytes],
          rate: float, rounds: int) -> dict[str, dict[str, Any]]:
    """Each contestant scores a fresh topic fed ``events`` at ``rate``/s; latency quantiles
    of its predictions (medians over rounds, and each round's p99)."""
    runs: dict[str, list[dict[str, Any]]] = {c.name: [] for c in contestants}
    for _ in range(rounds):
        for c in contestants:
            topic, out = uid("peers-paced"), uid("peers-paced-out")
            ensure_topics(config, {topic: PARTITIONS}, create_missing=True)
            feeder = threading.Thread(target=produce, args=(config, topic, events, rate),
                                      daemon=True)
            c.run(topic, out, len(events), feed=feeder.start)
            feeder.join(60)
            values = latencies(config, out, len(events))
            drop_topics(config, [topic, out])
            if len(values) < len(events):
                raise RuntimeError(f"{c.name}: {len(values)} predictions of {len(events)}")
            runs[c.name].append({f"p{q}_ms": quantile(values, q / 100) for q in (50, 95, 99)})
            print(f"paced {c.name}: {runs[c.name][-1]}", file=sys.stderr)
    return {name: {"rate": rate, "events": len(events),
                   **{key: statistics.median(r[key] for r in rs) for key in rs[0]},
                   "p99_runs": [r["p99_ms"] for r in rs]}
            for name, rs in runs.items()}


def ratio_by_round(runs: dict[str, list[float]], to: str) -> dict[str, dict[str, float]]:
    """Each contestant's events/s over ``to``'s of the same round: median, lowest, highest."""
    out = {}
    for name, rates in runs.items():
        if name != to:
            ratios = [rate / other for rate, other in zip(rates, runs[to], strict=True)]
            out[name] = {"median": round(statistics.median(ratios), 3),
                         "min": round(min(ratios), 3), "max": round(max(ratios), 3)}
    return out


def machine(quix: dict[str, str]) -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    import onnxruntime

    versions = {p: importlib.metadata.version(p) for p in
                ("streaminfer", "kafka-python", "confluent-kafka", "ray")}
    versions["onnxruntime"] = onnxruntime.__version__
    return {"cpus": psutil.cpu_count(), "cpu": cpu, "memory_gb":
            round(psutil.virtual_memory().total / 2**30, 1), "platform": platform.platform(),
            "python": platform.python_version(), "load_avg_at_start": os.getloadavg(),
            "versions": versions, "quix_venv_versions": quix}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=40_000, help="backlog of a round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--clients", default="kafka-python,confluent",
                        help="streaminfer's kafka.client values, comma-separated "
                        "('default': the key left out)")
    parser.add_argument("--paced-rate", type=float, default=2_000.0, help="events/s")
    parser.add_argument("--paced-seconds", type=float, default=10.0)
    parser.add_argument("--paced-rounds", type=int, default=1)
    parser.add_argument("--max-wait-ms", type=int, default=10,
                        help="streaminfer's batching.max_wait_ms (throughput and paced runs)")
    parser.add_argument("--quix-fetch-wait-ms", type=int, default=10,
                        help="the Quix consumer's fetch.wait.max.ms (0: librdkafka's 500)")
    parser.add_argument("--quix-venv", type=Path, default=BUILD / "peers-quix-venv")
    parser.add_argument("--out", type=Path, help="write the JSON here too")
    parser.add_argument("--plot", type=Path, help="draw the figures into this png")
    parser.add_argument("--replot", type=Path, default=None,
                        help="only draw the figures of this JSON (into --plot, or beside it)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.replot:
        plot(json.loads(args.replot.read_text()), args.plot or args.replot.with_suffix(".png"))
        return
    clients = [c.strip() for c in args.clients.split(",") if c.strip()]
    python = quix_python(args.quix_venv)
    model = train_model(BUILD / "bench-models")
    events = make_events(max(args.events, round(args.paced_rate * args.paced_seconds)))
    backlog, fed = events[:args.events], events[:round(args.paced_rate * args.paced_seconds)]
    settings = {
        "events": args.events, "rounds": args.rounds, "partitions": PARTITIONS,
        "features": len(FEATURES), "model": "LogisticRegression, skl2onnx zipmap off",
        "clients": clients,
        "streaminfer": {"batching_max_size": 256, "max_wait_ms": args.max_wait_ms,
                        "model": "in-process"},
        "quix": {"processing_guarantee": "at-least-once", "per_message": True,
                 "intra_op_num_threads": 1,
                 "fetch_wait_max_ms": args.quix_fetch_wait_ms or "librdkafka default (500)"},
        "bare": {"fetch_max_wait_ms": 10, "max_poll_records": 256},
        "paced": {"rate": args.paced_rate, "seconds": args.paced_seconds,
                  "events": len(fed), "rounds": args.paced_rounds},
    }
    info = machine(quix_versions(python))

    import ray

    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    with EmbeddedBroker() as broker:
        bootstrap = broker.bootstrap_servers
        config = {"bootstrap_servers": [bootstrap]}
        skipped: dict[str, str] = {}
        streaming: list[ClientStreaming] = []
        for client in clients:
            refused = client_refused(bootstrap, model, client)
            if refused:
                skipped[client] = refused
                print(f"skipping kafka client {client!r}: this streaminfer's spec refuses "
                      f"kafka.client={client!r} ({refused})", file=sys.stderr)
                continue
            streaming += [ClientStreaming(bootstrap, model, w, client, args.max_wait_ms)
                          for w in (1, 2)]
        if not streaming:
            print("no streaminfer contestant left (--clients default runs the pipeline "
                  "without kafka.client)", file=sys.stderr)
        quix = Quix(python, bootstrap, model, BUILD / "peers-quix-run",
                    args.quix_fetch_wait_ms)
        contestants: list[Contestant] = [Bare(bootstrap, model, FEATURES), quix, *streaming]
        if streaming:
            ray.init(include_dashboard=False, logging_level=logging.WARNING,
                     log_to_driver=False)
        try:
            results, fields = throughput(config, contestants, backlog, args.rounds)
            latency = paced(config, [quix, *(c for c in streaming if c.workers == 1)], fed,
                            args.paced_rate, args.paced_rounds)
        finally:
            if streaming:
                ray.shutdown()

    runs = {name: [r["events_per_s"] for r in rs] for name, rs in results.items()}
    report = {
        "machine": info, "settings": settings, "skipped_clients": skipped,
        "runs": runs, "run_details": results,
        "events_per_s": {name: statistics.median(rates) for name, rates in runs.items()},
        "ratio_to_quix": ratio_by_round(runs, "quix"),
        "ratio_to_bare": ratio_by_round(runs, "bare"),
        "prediction_fields": fields, "latency": latency,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
        print(f"JSON written to {args.out}", file=sys.stderr)
    if args.plot:
        plot(report, args.plot)


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(report["events_per_s"])
    rates = [report["events_per_s"][n] for n in names]
    low = [r - min(report["runs"][n]) for n, r in zip(names, rates, strict=True)]
    high = [max(report["runs"][n]) - r for n, r in zip(names, rates, strict=True)]
    colours = ["grey" if n == "bare" else "tab:orange" if n == "quix" else "tab:blue"
               for n in names]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5),
                                      gridspec_kw={"width_ratios": [3, 2]})
    bars = left.bar(names, rates, color=colours, yerr=[low, high], capsize=3)
    for bar, name, above in zip(bars, names, high, strict=True):
        ratio = report["ratio_to_quix"].get(name)
        if ratio is not None:  # above the bar's range
            left.annotate(f"{ratio['median']:.2f}x quix", (bar.get_x() + bar.get_width() / 2,
                                                           bar.get_height() + above),
                          ha="center", va="bottom", fontsize=8,
                          xytext=(0, 3), textcoords="offset points")
    left.set_ylim(top=max(r + h for r, h in zip(rates, high, strict=True)) * 1.1)
    settings = report["settings"]
    left.set_ylabel("events/s")
    left.set_title(f"throughput: {settings['events']} events, median of "
                   f"{settings['rounds']} round(s) (bars: min-max)", fontsize=10)
    left.tick_params(axis="x", labelrotation=20, labelsize=8)

    latency = report["latency"]
    paced_names = list(latency)
    x = np.arange(len(paced_names))
    right.bar(x - 0.2, [latency[n]["p50_ms"] for n in paced_names], width=0.4, label="p50")
    p99 = right.bar(x + 0.2, [latency[n]["p99_ms"] for n in paced_names], width=0.4,
                    label="p99")
    for bar in p99:
        right.annotate(f"{bar.get_height():.0f}", (bar.get_x() + bar.get_width() / 2,
                                                   bar.get_height()),
                       ha="center", va="bottom", fontsize=8)
    right.set_xticks(x, paced_names, rotation=20, fontsize=8)
    right.set_ylabel("end-to-end latency (ms)")
    right.set_title(f"latency at {settings['paced']['rate']:g} events/s for "
                    f"{settings['paced']['seconds']:g} s", fontsize=10)
    right.set_ylim(top=max(latency[n]["p99_ms"] for n in paced_names) * 1.3)
    right.legend(loc="upper left", ncols=2)  # in the headroom above the bars
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    print(f"plot written to {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
