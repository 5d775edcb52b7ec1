"""Before/after a change, in alternation: ``throughput.py`` from two checkouts, round by round.

Each round runs ``benchmarks/throughput.py --rounds 1`` once from each checkout (the order
flips every round: ABBA..., so drift in the machine's load hurts both alike) and keeps each
run's ratios to *its own* bare loop, measured in the same run. Reported per checkout and
contestant: the median ratio over rounds and every round's value; latency p99 likewise.
Prints JSON.

    python benchmarks/alternate.py --before ../old-checkout --after . --rounds 5 \\
        -- --events 20000 --latency-rate 2000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any


def run_once(tree: Path, extra: list[str]) -> dict[str, Any]:
    """One ``throughput.py --rounds 1`` run of the checkout ``tree``; its JSON."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(
        [sys.executable, str(tree / "benchmarks" / "throughput.py"), "--rounds", "1", *extra],
        cwd=tree, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{tree}: throughput.py failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median and every round's ratio to the bare loop, and p99, per contestant."""
    names = [n for n in runs[0]["throughput"] if n != "bare"]
    out: dict[str, Any] = {}
    for name in names:
        ratios = [r["throughput"][name]["ratio_to_bare"] for r in runs]
        p99 = [r["latency"][name]["p99_ms"] for r in runs]
        out[name] = {"ratio_to_bare": statistics.median(ratios), "ratio_runs": ratios,
                     "p99_ms": statistics.median(p99), "p99_runs": p99}
    bare_p99 = [r["latency"]["bare"]["p99_ms"] for r in runs]
    out["bare"] = {"p99_ms": statistics.median(bare_p99), "p99_runs": bare_p99}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="the old checkout")
    parser.add_argument("--after", type=Path, required=True, help="the new checkout")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("extra", nargs="*", help="after --: arguments for throughput.py")
    args = parser.parse_args()
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    for round_ in range(args.rounds):
        order = ["before", "after"] if round_ % 2 == 0 else ["after", "before"]
        for which in order:
            runs[which].append(run_once(trees[which], args.extra))
            last = runs[which][-1]["throughput"]
            print(f"round {round_ + 1} {which}: " + ", ".join(
                f"{n} {c['ratio_to_bare']}" for n, c in last.items()), file=sys.stderr)
    print(json.dumps({"rounds": args.rounds, "args": args.extra,
                      "trees": {k: str(v) for k, v in trees.items()},
                      **{which: summary(r) for which, r in runs.items()}}, indent=1))


if __name__ == "__main__":
    main()
