"""Every optimization variant of the digits MLP (64 -> 512 -> 256 -> 10): speed and accuracy.

The goal (issue 12): dynamic or static int8 at least 1.5x the original's CPU throughput at
batch 256, within 0.5% accuracy (relative) of the original, on the held-out rows. Every
variant is timed in the same run as the original (interleaved rounds, best round kept),
one intra-op thread each, as a pipeline worker runs it.

Prints JSON; ``--plot`` draws accuracy against speed (Pareto front marked, the chosen
variant ringed), ``--markdown`` writes the table. ``--plot-from JSON`` redraws the plot from
a JSON this script printed, without measuring again.

    python benchmarks/optimize.py [--rounds 7] [--block-s 0.3] [--plot docs/benchmarks/optimize.png]
        [--markdown docs/benchmarks/optimize.md]
    python benchmarks/optimize.py --plot-from docs/benchmarks/optimize.json \
        --plot docs/benchmarks/optimize.png
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

from streaminfer.operators.labelled_rows import labelled_rows, read_table
from streaminfer.pipelines.devtools.example_models import build, write_validation
from streaminfer.pipelines.optimize.plot import write_png
from streaminfer.pipelines.optimize.run import Report, Settings, VariantReport, optimize
from streaminfer.pipelines.optimize.timing import Speed

GOAL_SPEEDUP, GOAL_LOSS = 1.5, 0.005


def cpu_flags() -> dict[str, Any]:
    """The CPU's model and the int8 instructions ONNX Runtime's kernels can use."""
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    flags = set(re.findall(r"^flags\s*:\s*(.*)$", text, re.M)[0].split()) if text else set()
    model = re.findall(r"^model name\s*:\s*(.*)$", text, re.M)
    return {"model": model[0] if model else "?", "cores": text.count("processor\t:"),
            **{f: f in flags for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni",
                                       "amx_int8")}}


def summary(report: Report) -> dict[str, Any]:
    variants = {}
    for v in report.variants:
        cpu = v.speed.get("cpu")
        variants[v.name] = {
            "status": v.status, "reason": v.reason or None, "size_bytes": v.size_bytes,
            "accuracy": v.metrics.get("accuracy"), "delta_accuracy": v.delta.get("accuracy"),
            "loss": v.loss, "agreement": v.agreement, "speedup_b256": v.speedup,
            "pareto": v.pareto,
            "cpu": {"load_ms": cpu.load_ms, "latency_ms_b1": cpu.latency_ms_b1,
                    "rows_per_s": cpu.rows_per_s} if isinstance(cpu, Speed) else cpu,
            "cuda": v.speed.get("cuda") if not isinstance(v.speed.get("cuda"), Speed) else
            vars(v.speed["cuda"]),
        }
    int8 = {n: v for n, v in variants.items() if n.startswith("int8")
            and v["speedup_b256"] is not None and v["loss"] is not None}
    best = max(int8, key=lambda n: int8[n]["speedup_b256"] if int8[n]["loss"] <= GOAL_LOSS
               else 0.0, default=None)
    met = bool(best and int8[best]["speedup_b256"] >= GOAL_SPEEDUP
               and int8[best]["loss"] <= GOAL_LOSS)
    return {"goal": {"int8_speedup_b256_at_least": GOAL_SPEEDUP, "max_loss": GOAL_LOSS,
                     "best_int8": best, "speedup": int8[best]["speedup_b256"] if best else None,
                     "met": met},
            "chosen": report.chosen, "variants": variants}


def from_summary(result: dict[str, Any]) -> Report:
    """The report a printed JSON (:func:`summary` and the run's fields) stands for, as far
    as the plot needs it."""
    variants = []
    for name, v in result["variants"].items():
        cpu = v["cpu"]
        speed = Speed(cpu["load_ms"], cpu["latency_ms_b1"],
                      {int(b): r for b, r in cpu["rows_per_s"].items()}) if isinstance(
                          cpu, dict) else cpu
        metrics = {} if v["accuracy"] is None else {"accuracy": v["accuracy"]}
        variants.append(VariantReport(name, "", {}, v["status"], v["reason"] or "",
                                      size_bytes=v["size_bytes"], metrics=metrics,
                                      loss=v["loss"], agreement=v["agreement"],
                                      speed={"cpu": speed}, speedup=v["speedup_b256"],
                                      pareto=v["pareto"]))
    return Report(result["model"], "", "classifier", "accuracy", "", result["rows"],
                  result["goal"]["max_loss"], 256, result["devices"], variants,
                  result["chosen"])


def markdown(report: Report) -> str:
    batches = sorted(next(v.speed["cpu"].rows_per_s for v in report.variants
                          if isinstance(v.speed.get("cpu"), Speed)))
    head = ["variant", "status", "size KB", "accuracy", "Δ accuracy", "agreement", "b1 ms",
            *[f"rows/s b{b}" for b in batches], "speedup b256", "Pareto"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for v in report.variants:
        cpu = v.speed.get("cpu")
        speed = ([f"{cpu.latency_ms_b1:.3f}", *[f"{cpu.rows_per_s[b]:,.0f}" for b in batches]]
                 if isinstance(cpu, Speed) else ["not measured here"] * (1 + len(batches)))
        cells = [v.name, v.status, f"{v.size_bytes / 1024:.0f}" if v.size_bytes else "-",
                 f"{v.metrics['accuracy']:.4f}" if v.metrics else "-",
                 f"{v.delta['accuracy']:+.4f}" if v.delta else "-",
                 f"{v.agreement:.2%}" if v.agreement is not None else "-", *speed,
                 f"{v.speedup:.2f}x" if v.speedup else "-", "*" if v.pareto else ""]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--block-s", type=float, default=0.3)
    parser.add_argument("--max-size", type=int, default=512,
                        help="The pipeline's batching.max_size (configs/mlp-scoring.yaml).")
    parser.add_argument("--out", type=Path, default=Path("build/bench-optimize"))
    parser.add_argument("--plot", type=Path, default=None)
    parser.add_argument("--markdown", type=Path, default=None)
    parser.add_argument("--plot-from", type=Path, default=None,
                        help="A JSON this script printed: draw --plot from it, measure nothing.")
    args = parser.parse_args()
    if args.plot_from:
        if not args.plot:
            parser.error("--plot-from needs --plot PNG")
        write_png(from_summary(json.loads(args.plot_from.read_text())), args.plot)
        print(f"plot written to {args.plot}", file=sys.stderr)
        return
    models = args.out / "models"
    model = build("digits_mlp", models)
    data = write_validation("digits_mlp", models)
    assert data is not None
    table = read_table(data)
    rows = labelled_rows(table, [c for c in table.column_names if c != "label"], "label")
    settings = Settings(max_loss=GOAL_LOSS, batches=(256, args.max_size), rounds=args.rounds,
                        block_s=args.block_s)
    start = time.monotonic()
    report = optimize(model, rows, args.out / "variants", data_name=data.name,
                      settings=settings)
    result = {"model": "digits_mlp (64-512-256-10)", "rows": report.rows,
              "rounds": args.rounds, "block_s": args.block_s, "threads": settings.threads,
              "seconds": round(time.monotonic() - start, 1), "cpu": cpu_flags(),
              "devices": report.devices, **summary(report)}
    print(json.dumps(result, indent=2, default=str))
    if args.plot:
        write_png(report, args.plot)
        print(f"plot written to {args.plot}", file=sys.stderr)
    if args.markdown:
        args.markdown.write_text(markdown(report))
        print(f"table written to {args.markdown}", file=sys.stderr)


if __name__ == "__main__":
    main()
