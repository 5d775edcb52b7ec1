"""Hot swap: time from ``promote`` to the first prediction by the new version, and the
pipeline's events/s second by second before, during and after the swap.

A real pipeline (embedded broker, local Ray, one worker per partition, colocated ONNX
Runtime) serves ``models:/bc@champion`` from an MLflow registry in a temporary SQLite store.
The source topic holds a backlog of ``--events`` breast-cancer events (or, with ``--rate``,
they are produced at that pace while it runs), so the pipeline scores as fast as it can.
Once ``--promote-at`` of them are predicted, version 2 is promoted; every prediction names
its version and carries its ``ts``, which gives the per-second throughput of each version.
The baseline is the same run's throughput before the promotion: the report gives during/before
and after/before ratios, so the numbers carry over between machines.

With ``--serving serve`` the model runs on Ray Serve replicas (one, 1 CPU) instead: the swap
deploys the new version as an application of its own and the workers move their handles.

Prints JSON; ``--plot FILE.png`` draws it; ``--replot JSON`` only redraws an earlier run's.

    python benchmarks/swap.py [--events 60000] [--workers 2] [--poll 1.0]
                              [--serving colocated|serve] [--plot F]
    python benchmarks/swap.py --replot docs/benchmarks/swap.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import psutil
from throughput import PARTITIONS, make_events, produce, uid

from streaminfer import Pipeline, PipelineSpec
from streaminfer.pipelines.devtools.example_models import EXAMPLES, build
from streaminfer.pipelines.kafka.embedded_broker import EmbeddedBroker
from streaminfer.pipelines.kafka.topic_reader import TopicReader
from streaminfer.pipelines.lifecycle.registry import Lineage, Registry
from streaminfer.pipelines.lifecycle.trainers import train
from streaminfer.pipelines.spec.kafka_settings import client_config
from streaminfer.pipelines.spec.training_spec import EstimatorSpec

TIMEOUT_S = 900.0


def registry_with_two_versions(folder: Path, model: Path) -> Registry:
    """bc v1 (the example model, champion) and v2 (a logistic regression on half the rows)."""
    registry = Registry(f"sqlite:///{folder / 'mlflow.db'}", cache_dir=folder / "cache")
    data = EXAMPLES["breast_cancer"].dataset()
    second = folder / "v2.onnx"
    second.write_bytes(train(EstimatorSpec(class_path="sklearn.linear_model.LogisticRegression",
                                           params={"max_iter": 1000}, standardize=True),
                             data.X[::2], data.y[::2], seed=0).onnx)
    registry.register_model("bc", model, metrics={}, lineage=Lineage("import"))
    registry.register_model("bc", second, metrics={}, lineage=Lineage("retrain"))
    registry.set_alias("bc", "champion", "1")
    return registry


def make_spec(bootstrap: str, registry: Registry, features: list[str],
              args: argparse.Namespace) -> PipelineSpec:
    return PipelineSpec.model_validate({
        "name": uid("swap"),
        "kafka": {"bootstrap_servers": bootstrap},
        "source": {"topics": [uid("events")], "group_id": uid("g"), "features": features,
                   "id_field": "id", "partitions": PARTITIONS},
        "model": {"path": "models:/bc@champion", "serving": args.serving,
                  # room for the new version's replica beside the old one on 2 CPUs
                  "serve": {"num_cpus": 0.5}},
        "registry": {"tracking_uri": registry.uri, "cache_dir": str(registry.cache_dir)},
        "rollout": {"poll_interval_s": args.poll},
        "batching": {"max_size": 512, "max_wait_ms": 10},
        "sink": {"predictions_topic": uid("preds"), "dead_letter_topic": uid("dlq")},
        "workers": {"count": args.workers, "num_cpus": 0.5},
        "metrics": {"enabled": False},
    })


def watch(config: dict[str, Any], topic: str, count: int, promote_at: int,
          promote: Any) -> tuple[list[tuple[int, str]], float]:
    """Read every prediction (its ts and version); call ``promote`` once ``promote_at`` are
    in. The (ts, version) pairs and the promotion's time.time()."""
    seen: list[tuple[int, str]] = []
    promoted = 0.0
    deadline = time.monotonic() + TIMEOUT_S
    with TopicReader(config, [topic]) as reader:
        while len(seen) < count and time.monotonic() < deadline:
            for record in reader.poll(timeout_ms=100):
                value = orjson.loads(record.value or b"{}")
                seen.append((int(value["ts"]), str(value["model_version"])))
            if not promoted and len(seen) >= promote_at:
                promoted = time.time()
                promote()
    return seen, promoted


def per_second(seen: list[tuple[int, str]], promoted: float) -> list[dict[str, Any]]:
    """Predictions per whole second (relative to the promotion), by version."""
    counts: Counter[tuple[int, str]] = Counter(
        ((ts - int(promoted * 1000)) // 1000, version) for ts, version in seen)
    seconds = sorted({s for s, _ in counts})
    return [{"second": s, "v1": counts[(s, "1")], "v2": counts[(s, "2")]} for s in seconds]


def summarize(rows: list[dict[str, Any]], first_v2_s: float) -> dict[str, Any]:
    """Mean events/s before the promotion, in the seconds up to the first v2 prediction
    (and the one it falls in), and after; whole seconds only (the first and last are cut)."""
    full = rows[1:-1]
    swap_end = int(first_v2_s) + 1 if first_v2_s == first_v2_s else 0  # NaN: no v2
    before = [r["v1"] + r["v2"] for r in full if r["second"] < 0]
    during = [r["v1"] + r["v2"] for r in full if 0 <= r["second"] <= swap_end]
    after = [r["v1"] + r["v2"] for r in full if r["second"] > swap_end]
    mean = lambda xs: round(statistics.fmean(xs), 1) if xs else None  # noqa: E731
    out = {"before_events_per_s": mean(before), "during_events_per_s": mean(during),
           "after_events_per_s": mean(after), "min_second_during": min(during, default=None)}
    if out["before_events_per_s"]:
        for key in ("during", "after"):
            value = out[f"{key}_events_per_s"]
            out[f"{key}_over_before"] = round(value / out["before_events_per_s"], 3) \
                if value is not None else None
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    import logging

    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    model = build("breast_cancer", Path(sys.prefix).parent / "build" / "bench-models")
    features, events = make_events(args.events)
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker() as broker:
        registry = registry_with_two_versions(Path(tmp), model)
        bootstrap = broker.bootstrap_servers
        spec = make_spec(bootstrap, registry, features, args)
        config = client_config(spec.kafka, bootstrap)
        pipeline = Pipeline(spec).start()
        try:
            pipeline.wait_ready(timeout_s=120)
            topic = spec.source.topics[0]
            feeding = threading.Thread(target=produce, args=(config, topic, events, args.rate))
            feeding.start()
            seen, promoted = watch(config, spec.sink.predictions_topic, args.events,
                                   int(args.events * args.promote_at),
                                   lambda: registry.promote("bc", "2"))
            feeding.join()
            follower = pipeline.follower
            swaps = list(follower.history) if follower else []
        finally:
            pipeline.stop()
    first_v2 = min((ts for ts, v in seen if v == "2"), default=None)
    rows = per_second(seen, promoted)
    first_v2_s = (first_v2 / 1000 - promoted) if first_v2 is not None else float("nan")
    return {
        "settings": {"events": args.events, "workers": args.workers, "partitions": PARTITIONS,
                     "poll_interval_s": args.poll, "rate": args.rate,
                     "promote_at": args.promote_at, "serving": args.serving,
                     "cpus": psutil.cpu_count()},
        "predictions": len(seen),
        "versions": dict(Counter(v for _, v in seen)),
        "promote_to_first_v2_s": round(first_v2_s, 3),
        "driver_swap_s": round(swaps[0].done_s - swaps[0].started_s, 3) if swaps else None,
        "summary": summarize(rows, first_v2_s),
        "per_second": rows,
    }


def plot(report: dict[str, Any], path: Path) -> None:
    """Predictions per second stacked by version around the promote; the legend above the
    bars, one row, so it covers none of them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["per_second"]
    seconds = [r["second"] for r in rows]
    first_v2 = report["promote_to_first_v2_s"]
    fig, axis = plt.subplots(figsize=(9, 4.4))
    axis.bar(seconds, [r["v1"] for r in rows], label="version 1", color="tab:blue",
             align="edge", width=0.9)  # second s is [s, s + 1)
    axis.bar(seconds, [r["v2"] for r in rows], bottom=[r["v1"] for r in rows],
             label="version 2", color="tab:orange", align="edge", width=0.9)
    axis.axvline(0, color="black", linestyle="--", label="promote")
    axis.axvline(first_v2, color="tab:red", linestyle=":",
                 label=f"first v2 prediction (+{first_v2:.2f} s)")
    axis.set_ylim(0, max(r["v1"] + r["v2"] for r in rows) * 1.08)
    s = report["settings"]
    axis.set_title(f"Hot swap ({s.get('serving', 'colocated')}): predictions per second by "
                   f"version\n{s['events']:,} events, {s['workers']} worker(s), poll "
                   f"{s['poll_interval_s']} s, {s['cpus']} CPUs", pad=28)
    axis.set_xlabel("seconds since `promote` (prediction timestamps)")
    axis.set_ylabel("predictions per second")
    axis.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncol=4, frameon=False,
                borderaxespad=0.2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--poll", type=float, default=1.0, help="rollout.poll_interval_s")
    parser.add_argument("--rate", type=float, default=None,
                        help="produce at this many events/s (default: as fast as possible)")
    parser.add_argument("--promote-at", type=float, default=0.4,
                        help="promote once this share of the events is predicted")
    parser.add_argument("--serving", choices=("colocated", "serve"), default="colocated",
                        help="model.serving")
    parser.add_argument("--plot", type=Path)
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    parser.add_argument("--replot", type=Path, default=None,
                        help="only draw --plot (default: this JSON's name, .png) from this JSON "
                        "of an earlier run")
    args = parser.parse_args()
    if args.replot:
        plot(json.loads(args.replot.read_text()), args.plot or args.replot.with_suffix(".png"))
        return
    report = run(args)
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    if args.plot:
        plot(report, args.plot)


if __name__ == "__main__":
    main()
