"""Chaos soak on several hosts: a real multi-node Ray cluster in network namespaces, a steady
stream, and a random fault every two minutes; nothing may be lost.

The hosts (tests/fixtures/multihost.py): a broker host (``streaminfer broker``), a Ray head
host (``ray start --head``, 0 CPUs, the driver: ``streaminfer run --address``) and two Ray
worker hosts (``ray start --address``) that cannot see the model file. Needs root.

Faults (tests/fixtures/chaos.py), one at random every ``--fault-every`` seconds:

- ``raylet_kill``: a worker host's raylet SIGKILLed (the node and its actors are lost), the
  host's Ray started again once everything sent before the kill came back;
- ``broker_cut``: a worker host's link to the broker down for ``--hold`` seconds (Ray still
  reaches it), then up;
- ``broker_pause``: the broker SIGSTOPped for ``--hold`` seconds, then SIGCONTed;
- ``driver_sigterm``: the driver SIGTERMed (it must drain and exit 0), then started again;
- ``rebalance_storm``: the workers scaled 1, 4, 1, 4 within 60 s, as an operator does it
  (``Pipeline.scale_workers``: the driver is then tests/fixtures/operator_driver.py, the
  pipeline run through the Python API, since the CLI has no command that scales a running
  pipeline);
- ``joiner_node_lost``: the raylet of a worker host running a feedback joiner killed while
  labels flow (each good event gets its true label, then the other class 2 s later: the
  first must win); the labelled-examples topic is checked at the end: one example per
  event, with its first label, any copy byte-identical.

``--spread`` runs no faults but the checks that the pipeline runs across nodes (one JSON
object, exit 0 only when every check passed): a pipeline whose model (``models:/bc@champion``
in a registry on the head, hidden from the worker hosts like the model folder) runs on Ray
Serve replicas, whose workers autoscale on lag (from 1, with a backlog waiting) and whose
feedback joiners join labels; it checks that the workers, the joiners and the replicas run
on more than one node, the workers the autoscaler added on the worker hosts; predictions
exact against offline ONNX Runtime; ``streaminfer models promote bc --version 2`` run on the
head reaching every partition (every worker, on every host: the predictions' version field,
each partition switching once, in order); the books exact and first-label-wins.

One JSON row a minute on stdout: events sent, accounted for (predictions + dead letters, by
event), lag (sent - accounted), duplicates, and the faults of that minute with their recovery
times (from the fault's end until every event sent by then came back). At the end the stream
stops, the books are read to the end, and the last row says whether they close exactly
(every event back, as a prediction or a dead letter; duplicates counted). Exit 0 only then.

    sudo .venv/bin/python benchmarks/chaos.py --minutes 20 [--rate 300] [--fault-every 120]
        [--hold 30] [--faults raylet_kill,broker_cut,broker_pause,driver_sigterm,...] [--seed 1]
        [--out docs/benchmarks/chaos.json] [--plot docs/benchmarks/chaos.png]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))  # the harness lives with the tests that share it

from tests.fixtures import chaos  # noqa: E402
from tests.fixtures.multihost import MultiHost, available  # noqa: E402

FAULTS = ("raylet_kill", "broker_cut", "broker_pause", "driver_sigterm", "rebalance_storm",
          "joiner_node_lost")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=300.0, help="events/s")
    parser.add_argument("--fault-every", type=float, default=120.0, help="seconds")
    parser.add_argument("--hold", type=float, default=30.0,
                        help="seconds a cut or a pause lasts")
    parser.add_argument("--faults", default=",".join(FAULTS))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--row-every", type=float, default=60.0, help="seconds between rows")
    parser.add_argument("--out", type=Path, default=None, help="the whole run as JSON")
    parser.add_argument("--plot", type=Path, default=None, help="draw the run (PNG)")
    parser.add_argument("--spread", action="store_true",
                        help="no faults: the checks that it runs across nodes")
    parser.add_argument("--root", type=Path, default=None,
                        help="where the hosts keep their logs (default: a temporary folder)")
    args = parser.parse_args(argv)
    unknown = set(args.faults.split(",")) - set(FAULTS)
    if unknown:
        parser.error(f"unknown faults {sorted(unknown)}; known: {', '.join(FAULTS)}")
    return args


class Soak:
    def __init__(self, args: argparse.Namespace, hosts: MultiHost) -> None:
        self.args, self.hosts = args, hosts
        self.stop = threading.Event()
        names = args.faults.split(",")
        # Labels and joiners when a joiner's node may be lost; the operator driver when the
        # workers are scaled by hand.
        labels = "joiner_node_lost" in names
        self.control = hosts.ray_root / "driver.sock" if "rebalance_storm" in names else None
        self.config = chaos.write_pipeline(hosts, workers=2, joiners=2 if labels else 0)
        self.books = chaos.Books(hosts)
        self.books.keep_values = False
        self.examples = chaos.Examples(hosts) if labels else None
        self.stream = chaos.Stream(hosts, rate=args.rate, labels=labels)
        self.faults = chaos.Faults(hosts, self.books, self.stream, self.start_driver,
                                   hold_s=args.hold, stop=self.stop, control=self.control,
                                   examples=self.examples)
        self.done: list[chaos.FaultResult] = []
        self.errors: list[str] = []
        self.samples: list[dict[str, Any]] = []  # every 5 s, for the plot
        self.t0 = time.monotonic()

    def start_driver(self) -> None:
        if self.control is not None:
            self.hosts.operator_driver(self.config, self.control)
        else:
            self.hosts.driver(self.config)

    def at(self) -> float:
        return round(time.monotonic() - self.t0, 1)

    def sample(self) -> dict[str, Any]:
        sent, unique = self.stream.sent, self.books.unique
        sample = {"t": self.at(), "sent": sent, "accounted": unique, "lag": sent - unique,
                  "duplicates": self.books.duplicates}
        if self.examples is not None:
            sample["examples"] = len(self.examples.first)
            sample["examples_lag"] = chaos.good_below(
                self.stream.labelled, self.stream.bad_every) - sample["examples"]
        return sample

    def fault_loop(self) -> None:
        rng = random.Random(self.args.seed)
        names = self.args.faults.split(",")
        while not self.stop.wait(self.args.fault_every):
            if time.monotonic() - self.t0 > self.args.minutes * 60 - 30:
                return  # no fault in the last half minute: the books close after the stream
            name = rng.choice(names)
            try:
                result = getattr(self.faults, name)()
                result.notes["at_s"] = round(result.started - self.t0, 1)
                self.done.append(result)
            except Exception as exc:  # the run goes on; the row says so
                self.errors.append(f"{self.at()}s {name}: {type(exc).__name__}: {exc}")

    def run(self) -> dict[str, Any]:
        args = self.args
        self.books.start()
        if self.examples is not None:
            self.examples.start()
        self.start_driver()
        self.stream.start()
        faults = threading.Thread(target=self.fault_loop, daemon=True, name="faults")
        faults.start()
        end = self.t0 + args.minutes * 60
        next_row = self.t0 + args.row_every
        reported = 0
        last = self.sample()
        while time.monotonic() < end:
            self.stop.wait(min(5.0, max(0.0, end - time.monotonic())))
            self.samples.append(self.sample())
            if time.monotonic() >= next_row or time.monotonic() >= end:
                now = self.sample()
                row = {**now, "minute": round(now["t"] / 60, 1),
                       "events_s": round((now["accounted"] - last["accounted"])
                                         / max(now["t"] - last["t"], 1e-9), 1),
                       "faults": [f.row() for f in self.done[reported:]],
                       "errors": self.errors[:]}
                reported = len(self.done)
                print(json.dumps(row), flush=True)
                last = now
                next_row += args.row_every
        self.stop.set()
        faults.join(300)
        sent = self.stream.halt()
        driver = self.hosts.processes["driver"]
        if driver.poll() is not None:  # a fault left it stopped: the books need it running
            self.start_driver()
        books = self.books.finish(sent, timeout_s=180)
        examples = (self.examples.finish(self.stream.labelled, self.stream.bad_every,
                                         timeout_s=180)
                    if self.examples is not None else None)
        recoveries = [f.recovered_s for f in self.done if f.recovered_s is not None]
        summary = {"final": True, "t": self.at(), **books,
                   "faults": len(self.done),
                   "unrecovered": [f.row() for f in self.done if f.recovered_s is None],
                   "recovered_s_max": round(max(recoveries), 1) if recoveries else None,
                   # At least once: duplicates come from faults (each fault's row counts
                   # those that came back by its recovery); here, any that came later.
                   "duplicates_outside_faults": books["duplicates"] - sum(
                       f.notes.get("duplicates", 0) for f in self.done),
                   "errors": self.errors, "examples": examples,
                   "books_close": books["missing"] == 0 and books["unknown"] == 0
                   and books["predictions"] + books["dead_letters"] - books["duplicates"]
                   == books["events"] and (examples is None or examples["exact"])}
        print(json.dumps(summary), flush=True)
        return {"args": {k: str(v) for k, v in vars(args).items()},
                "machine": {"cpus": __import__("os").cpu_count(),
                            "python": platform.python_version()},
                "samples": self.samples, "faults": [f.row() for f in self.done],
                "summary": summary}


class Spread:
    """The checks that the pipeline runs across nodes (``--spread``; see the module)."""

    #: Events waiting when the driver starts (one worker reads them in a second or two).
    BACKLOG = 6_000

    def __init__(self, args: argparse.Namespace, hosts: MultiHost) -> None:
        from streaminfer.pipelines.lifecycle.registry import Lineage, Registry

        self.args, self.hosts = args, hosts
        models = hosts.root / "models"  # hidden from the worker hosts, like the registry
        self.uri = f"sqlite:///{models / 'mlflow.db'}"
        # Joiners of 1.6 CPUs on worker hosts of 3: Ray cannot put both on one host. Workers
        # and replicas take what is left (2.8 CPUs): 4 workers and, while a promote swaps
        # applications, 4 replicas, of 0.25 each.
        self.config = chaos.write_pipeline(hosts, workers=1, joiners=2, extra={
            "model": {"path": "models:/bc@champion", "serving": "serve",
                      "serve": {"min_replicas": 2, "max_replicas": 2, "num_cpus": 0.25}},
            "registry": {"tracking_uri": self.uri, "cache_dir": str(models / "cache")},
            "rollout": {"poll_interval_s": 1.0},
            "workers": {"num_cpus": 0.25, "autoscale": {
                "enabled": True, "min_workers": 1, "max_workers": 4,
                # The steady stream's lag (its batches in flight: ~100-200 events) over a
                # target of 40 asks for 4 workers; one worker reads the backlog too fast
                # for the default target of 1000 to see it.
                "target_lag_per_worker": 40, "scale_down_below": 0, "interval_s": 1.0,
                "scale_up_cooldown_s": 5.0}},
            "feedback": {"joiners": {"num_cpus": 1.6}},
        })
        registry = Registry(self.uri)
        onnx = models / f"{chaos.MODEL}.onnx"
        for _ in range(2):  # version 2: the same bytes; what moves is the version field
            registry.register_model("bc", onnx, metrics={}, lineage=Lineage("import"))
        registry.set_alias("bc", "champion", "1")
        self.books = chaos.Books(hosts)
        self.examples = chaos.Examples(hosts)
        self.stream = chaos.Stream(hosts, rate=args.rate, labels=True)
        self.checks: dict[str, bool] = {}
        self.seen: dict[str, Any] = {}

    def check(self, name: str, ok: bool, seen: Any) -> None:
        self.checks[name] = bool(ok)
        self.seen[name] = seen
        print(json.dumps({"check": name, "ok": bool(ok), "seen": seen}), flush=True)

    def versions_by_partition(self) -> dict[int, list[str]]:
        """Each partition's model versions, in offset order (first prediction of each)."""
        with self.books.lock:
            rows = [(v["source"]["partition"], v["source"]["offset"], v["model_version"])
                    for v in self.books.values.values()]
        by: dict[int, list[str]] = {}
        for partition, _, version in sorted(rows):
            by.setdefault(partition, []).append(version)
        return by

    def run(self) -> dict[str, Any]:
        from streaminfer.pipelines.devtools.example_models import EXAMPLES
        from streaminfer.waiting import wait_until

        hosts, t0 = self.hosts, time.monotonic()
        self.books.start()
        self.examples.start()
        self.stream.start()
        wait_until(lambda: self.stream.sent >= self.BACKLOG, 120, every_s=0.2)
        driver = hosts.driver(self.config)
        try:
            # The autoscaler adds workers (scale_down_below 0: it never removes one).
            scaled = wait_until(lambda: len(hosts.placement(f"{chaos.NAME}-worker")) == 4,
                                180, every_s=1)
            workers = hosts.placement(f"{chaos.NAME}-worker")
            self.check("autoscaled_workers_on_worker_hosts",
                       scaled and set(workers.values()) <= {"w1", "w2"}
                       and len(set(workers.values())) > 1,
                       {"workers": workers, "after_s": round(time.monotonic() - t0, 1)})
            joiners = hosts.placement(f"{chaos.NAME}-joiner")
            self.check("joiners_on_two_nodes",
                       len(joiners) == 2 and len(set(joiners.values())) == 2, joiners)
            replicas = hosts.placement("SERVE_REPLICA::")
            self.check("replicas_on_two_nodes",
                       len(replicas) == 2 and len(set(replicas.values())) == 2, replicas)
            caught = wait_until(lambda: self.books.accounted_below(
                self.stream.sent_by(time.monotonic() - 2)), 180, every_s=0.5)
            self.check("backlog_caught_up", caught,
                       {"after_s": round(time.monotonic() - t0, 1)})

            promoted = time.monotonic()
            done = hosts.on_head(str(hosts.bin / "streaminfer"), "models", "promote", "bc",
                                 "--version", "2", "--tracking-uri", self.uri)
            reached = done.returncode == 0 and wait_until(
                lambda: sum("2" in v for v in self.versions_by_partition().values())
                == chaos.PARTITIONS, 120, every_s=0.5)
            self.check("promote_reached_every_partition", reached,
                       {"after_s": round(time.monotonic() - promoted, 1),
                        "promote": (done.stdout + done.stderr).strip()[-300:]})
            self.stream.halted.wait(10)  # the stream goes on: predictions after the promote
        finally:
            self.stream.halted.set()
        sent = self.stream.halt()
        books = self.books.finish(sent, timeout_s=120)
        examples = self.examples.finish(self.stream.labelled, self.stream.bad_every)
        by = self.versions_by_partition()
        self.check("each_partition_switched_once_in_order",
                   all(v == sorted(v) and v[-1] == "2" for v in by.values()),
                   {p: {"v1": v.count("1"), "v2": v.count("2")} for p, v in by.items()})
        dataset = EXAMPLES[chaos.MODEL].dataset()
        expected = chaos.offline_probabilities(hosts.root / "models" / f"{chaos.MODEL}.onnx",
                                               dataset)
        with self.books.lock:
            got = dict(self.books.values)
        rows = [i % len(dataset.X) for i in got]
        worst = float(np.abs(np.array([got[i]["probabilities"] for i in got])
                             - expected[rows]).max()) if got else 1.0
        self.check("predictions_match_offline_onnx", worst <= 1e-6,
                   {"predictions": len(got), "max_abs_diff": worst})
        self.check("books_exact", books["missing"] == 0 and books["unknown"] == 0, books)
        self.check("first_label_wins", examples["exact"], examples)
        driver.terminate()
        code = driver.wait(60)
        self.check("sigterm_exit_0", code == 0, hosts.log_tail("driver", 2))
        return {"args": {k: str(v) for k, v in vars(self.args).items()},
                "checks": self.checks, "seen": self.seen, "ok": all(self.checks.values())}


def draw(run: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = run["samples"]
    t = [s["t"] / 60 for s in samples]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 6.5), sharex=True,
                                      gridspec_kw={"height_ratios": [2, 1]})
    top.plot(t, [s["lag"] for s in samples], lw=1.2,
             label="events not yet back (sent - predicted or dead-lettered)")
    if any("examples_lag" in s for s in samples):
        top.plot(t, [s.get("examples_lag", 0) for s in samples], color="tab:green", lw=0.8,
                 alpha=0.8, label="labelled examples not yet published (labelled - joined)")
    top.set_ylabel("events (symlog)")
    top.set_yscale("symlog")
    top.set_ylim(0, 1e5)
    bottom.plot(t, [s["duplicates"] for s in samples], color="tab:red",
                label="predictions or dead letters of an event already back")
    bottom.set_ylabel("duplicates")
    bottom.set_xlabel("minutes (shaded: a fault; label: recovered in, from its end)")
    for fault in run["faults"]:
        at = fault.get("at_s", 0) / 60
        for axis in (top, bottom):
            axis.axvspan(at, at + max(fault["fault_s"], 3) / 60, color="tab:orange",
                         alpha=0.25)
        top.annotate(f"{fault['fault']}\n{fault['recovered_s']} s", (at, 2e4), fontsize=7,
                     va="bottom")
    summary = run["summary"]
    examples = summary.get("examples")
    joined = (f"; {examples['ids']:,} labelled examples, one per event, "
              f"{examples['wrong_label']} with a later label" if examples else "")
    fig.suptitle(f"chaos soak on 4 hosts: {summary['events']:,} events, "
                 f"{summary['missing']} lost, {summary['duplicates']} duplicates, "
                 f"{summary['faults']} faults{joined}", fontsize=10)
    top.legend(loc="lower right", fontsize=8, framealpha=0.9)
    bottom.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    why = available()
    if why is not None:
        print(f"chaos: cannot build hosts here: {why}", file=sys.stderr)
        return 2
    root = args.root or Path(tempfile.mkdtemp(prefix="sih-chaos-"))
    if args.spread:
        with MultiHost(root, workers=2, worker_cpus=3, hide=(root / "models",)) as hosts:
            checked = Spread(args, hosts).run()
        if args.out:
            args.out.write_text(json.dumps(checked, indent=1))
        print(json.dumps({"final": True, "ok": checked["ok"], "checks": checked["checks"]}))
        print(f"logs of the hosts: {root}", file=sys.stderr)
        return 0 if checked["ok"] else 1
    # 3 CPUs a worker host: 4 workers (the storm's top) and 2 joiners fit on the two.
    with MultiHost(root, workers=2, worker_cpus=3, hide=(root / "models",)) as hosts:
        run = Soak(args, hosts).run()
    if args.out:
        args.out.write_text(json.dumps(run, indent=1))
    if args.plot:
        draw(run, args.plot)
    print(f"logs of the hosts: {root}", file=sys.stderr)
    return 0 if run["summary"]["books_close"] else 1


if __name__ == "__main__":
    sys.exit(main())
