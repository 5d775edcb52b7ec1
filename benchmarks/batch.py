"""`streaminfer batch` against a hand-written single-process loop, on one Parquet file.

The file: ``--rows`` rows (default 20M: the goal is judged over a whole job, and Ray Data's
fixed start-up of ~1.5-2 s is not paid back on smaller files; docs/batch.md) of the fraud
example's features, tiled, with an id column, in row groups of 100k (one unit each). The
loop, written without streaminfer as a
user would: pyarrow reads batches -> ONNX Runtime (one thread) -> pyarrow writes id, label
and probabilities. Then the batch job (Ray Data actor pool, Parquet output) with 1 actor and
with an actor per core, all in the same run, ``--rounds`` times (each round: the loop, the
jobs, the loop again; a job's ratio is to the mean of its round's two loops; the report
gives every round and the median). Round 1 holds the process's first Ray Data job (cold:
``ray.data`` imported, workers started), as a ``streaminfer batch`` command always is; later
rounds reuse the warm driver. ``ray.init`` is not counted.

Before those, ``--whole-rounds`` rounds time both as a user does, as whole processes (imports,
Ray's start and stop included): the loop as a script (``batch_hand_loop.py``), then
``streaminfer batch --actors 1`` with its default runner (one actor and no Ray: the units are
scored in its own process), the loop, the same command on Ray Data (``batch.runner: ray``),
the loop. Prints JSON; ``--plot`` draws rows/s against actors with the loop as a line.

    python benchmarks/batch.py [--rows 20000000] [--actors 1,2] [--rounds 3] \
        [--whole-rounds 3] [--plot docs/benchmarks/batch.png]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from batch_hand_loop import hand_loop  # benchmarks/ is on sys.path when run as a script

from streaminfer.pipelines.batch.job import BatchJob
from streaminfer.pipelines.devtools.example_models import EXAMPLES, build
from streaminfer.pipelines.spec.schema import PipelineSpec

GROUP = 100_000


def make_file(path: Path, rows: int) -> list[str]:
    """Write the input file; returns the feature names."""
    dataset = EXAMPLES["fraud"].dataset()
    writer = None
    for start in range(0, rows, GROUP):
        index = np.arange(start, min(start + GROUP, rows))
        values = dataset.X[index % len(dataset.X)]
        columns = {"id": pa.array([f"t{i}" for i in index])}
        columns.update({name: pa.array(values[:, c]) for c, name in enumerate(dataset.features)})
        table = pa.table(columns)
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=GROUP)
    assert writer is not None
    writer.close()
    return dataset.features


class Clock:
    """Progress sink that notes when each unit's result arrived."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[float, int]] = []

    def start(self, total_rows: int | None, done_rows: int) -> None:
        pass

    def advance(self, rows: int) -> None:
        self.arrivals.append((time.perf_counter(), rows))


def batch_run(spec: PipelineSpec, source: Path, out: Path, actors: int) -> dict[str, Any]:
    """One job; rows/s over its whole wall time (Ray Data and actor start included) and
    after the first unit arrived (the pool at work)."""
    shutil.rmtree(out, ignore_errors=True)
    clock = Clock()
    started = time.perf_counter()
    summary = BatchJob(spec, str(source), str(out), actors=actors).run(progress=clock)
    seconds = time.perf_counter() - started
    assert summary.complete and summary.predictions == summary.rows, summary
    (first, _), (last, _) = clock.arrivals[0], clock.arrivals[-1]
    later = sum(rows for _, rows in clock.arrivals[1:])
    return {"actors": actors, "rows": summary.rows, "seconds": round(seconds, 2),
            "rows_per_s": round(summary.rows / seconds),
            "first_unit_s": round(first - started, 2),
            "rows_per_s_after_first_unit": round(later / (last - first)) if last > first
            else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--actors", default=f"1,{os.cpu_count() or 1}",
                        help="Actor counts to run, comma-separated.")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--whole-rounds", type=int, default=3,
                        help="Rounds of whole processes (0: none).")
    parser.add_argument("--plot", type=Path, default=None)
    args = parser.parse_args()
    import ray

    work = Path(tempfile.mkdtemp(prefix="batch-bench-"))
    rounds: list[dict[str, Any]] = []
    try:
        model = build("fraud", work / "models")
        source = work / "rows.parquet"
        features = make_file(source, args.rows)
        spec = PipelineSpec.model_validate({
            "name": "bench", "source": {"topics": ["unused"], "group_id": "unused",
                                        "id_field": "id", "features": features},
            "model": {"path": str(model)},
            "sink": {"predictions_topic": "p", "dead_letter_topic": "d"},
            "batch": {"num_cpus": 1, "unit_rows": GROUP}})
        whole = [whole_process_round(spec, work, source, features)
                 for _ in range(args.whole_rounds)]  # before this process starts its Ray
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False,
                 logging_level=logging.WARNING)
        for _ in range(args.rounds):
            loop_s = [hand_loop(model, source, work / "loop.parquet", features)]
            runs = [batch_run(spec, source, work / f"out-{n}", n)
                    for n in map(int, args.actors.split(","))]
            loop_s.append(hand_loop(model, source, work / "loop.parquet", features))
            rounds.append(score_round(args.rows, loop_s, runs))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report = {"rows": args.rows, "cpus": os.cpu_count(), "model": "fraud",
              "median": medians(rounds), "rounds": rounds,
              "whole_process": {"median": whole_medians(whole), "rounds": whole},
              "goal": "one actor >= 0.8 of the loop, in the job and as whole processes; an "
                      "actor per core above it"}
    print(json.dumps(report, indent=2))
    if args.plot:
        plot(report, args.plot)


def timed(command: list[str], cwd: Path) -> float:
    """Seconds a command takes as a whole process (a user's shell: no RAY_ADDRESS)."""
    env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def whole_process_round(spec: PipelineSpec, work: Path, source: Path,
                        features: list[str]) -> dict[str, Any]:
    """The loop as a process, `streaminfer batch --actors 1` (its default runner: in its
    own process, no Ray), the loop, the same command on Ray Data (`batch.runner: ray`), the
    loop; each command's ratio is to the mean of the two loops around it."""
    streaminfer = str(Path(sys.executable).with_name("streaminfer"))
    configs = {}
    for runner in ("auto", "ray"):
        configs[runner] = work / f"{runner}.yaml"
        data = spec.model_dump(mode="json", exclude_defaults=True)
        data["batch"] = {**data.get("batch", {}), "runner": runner}
        configs[runner].write_text(yaml.safe_dump(data))
    assert spec.model_specs[0].path is not None
    loop = [sys.executable, str(Path(__file__).with_name("batch_hand_loop.py")),
            spec.model_specs[0].path, str(source), str(work / "loop.parquet"), *features]

    def job(runner: str) -> float:
        shutil.rmtree(work / "whole", ignore_errors=True)
        return timed([streaminfer, "batch", str(configs[runner]), "--input", str(source),
                      "--out", str(work / "whole"), "--actors", "1", "--no-progress"], work)

    loops = [timed(loop, work)]
    jobs = {}
    for runner in ("auto", "ray"):
        jobs[runner] = job(runner)
        loops.append(timed(loop, work))
    return {"loop_s": [round(s, 2) for s in loops],
            **{f"batch_{runner}_s": round(s, 2) for runner, s in jobs.items()},
            **{f"ratio_{runner}": round((loops[i] + loops[i + 1]) / 2 / s, 3)
               for i, (runner, s) in enumerate(jobs.items())}}


def whole_medians(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of every number of the whole-process rounds."""
    if not rounds:
        return {}
    keys = [key for key in rounds[0] if key != "loop_s"]
    return {"loop_s": round(statistics.median(s for r in rounds for s in r["loop_s"]), 2),
            **{key: round(statistics.median(r[key] for r in rounds), 3) for key in keys}}


def score_round(rows: int, loop_s: list[float], runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One round's loop rate (mean of the loop before and after) and each job's ratio to it."""
    loop_rate = rows / (sum(loop_s) / len(loop_s))
    for run in runs:
        run["ratio_to_loop"] = round(run["rows_per_s"] / loop_rate, 3)
        after = run["rows_per_s_after_first_unit"]
        run["ratio_to_loop_after_first_unit"] = round(after / loop_rate, 3) if after else None
    return {"loop": {"seconds": [round(s, 2) for s in loop_s], "rows_per_s": round(loop_rate)},
            "batch": runs}


def medians(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The median over rounds of the loop's rate and of each job's numbers, by actor count."""
    def median(values: list[Any]) -> Any:
        found = [v for v in values if v is not None]
        return round(statistics.median(found), 3) if found else None

    keys = ("seconds", "rows_per_s", "first_unit_s", "rows_per_s_after_first_unit",
            "ratio_to_loop", "ratio_to_loop_after_first_unit")
    batch = [{"actors": run["actors"], **{key: median([r["batch"][i][key] for r in rounds])
                                           for key in keys}}
             for i, run in enumerate(rounds[0]["batch"])]
    return {"loop": {"rows_per_s": median([r["loop"]["rows_per_s"] for r in rounds])},
            "batch": batch}


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axis = plt.subplots(figsize=(6, 4))
    median = report["median"]
    actors = [run["actors"] for run in median["batch"]]
    axis.plot(actors, [run["rows_per_s"] for run in median["batch"]], marker="o",
              label="streaminfer batch (whole job)")
    axis.plot(actors, [run["rows_per_s_after_first_unit"] for run in median["batch"]],
              marker="s", label="streaminfer batch (after the first unit)")
    axis.axhline(median["loop"]["rows_per_s"], color="grey", linestyle="--",
                 label="hand-written loop (1 process)")
    axis.set_xlabel("scoring actors")
    axis.set_ylabel("rows/s")
    axis.set_xticks(actors)
    axis.set_title(f"Batch scoring, {report['rows']:,} rows, {report['cpus']} CPUs, "
                   f"median of {len(report['rounds'])} rounds")
    axis.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    print(f"plot written to {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
