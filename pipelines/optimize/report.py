"""The comparison as a terminal table, ``report.json`` and a PNG of quality against speed
with the Pareto front marked."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from rich.table import Table

from streaminfer.pipelines.optimize.compare import tolerance_edge
from streaminfer.pipelines.optimize.run import Report, VariantReport
from streaminfer.pipelines.optimize.timing import Speed

STYLE = {"original": "bold", "accepted": "green", "rejected": "red", "skipped": "dim",
         "failed": "yellow"}


def _number(value: float | None, spec: str) -> str:
    return "-" if value is None or math.isnan(value) else format(value, spec)


def _speed_cells(speed: Speed | str | None, batches: list[int]) -> list[str]:
    if not isinstance(speed, Speed):
        return ["n/m"] * (1 + len(batches))
    return [f"{speed.latency_ms_b1:.3f}"] + [f"{speed.rows_per_s[b]:,.0f}" for b in batches]


def table(report: Report) -> Table:
    """One row per variant: status, size, metric delta, agreement, CPU speed, speedup."""
    batches = _batches(report)
    primary = report.primary_metric
    t = Table(title=f"{Path(report.model).name} on {report.rows} rows of {report.data} "
                    f"(max loss {report.max_loss:.2%} {primary}; * = Pareto front; "
                    "n/m = not measured here)")
    for header in ("variant", "status", "size KB", f"{primary}", f"Δ {primary}", "agree",
                   "b1 ms", *[f"rows/s b{b}" for b in batches],
                   f"speedup b{report.rank_batch}"):
        t.add_column(header, justify="left" if header in ("variant", "status") else "right")
    for v in report.variants:
        name = v.name + (" *" if v.pareto else "") + (" <- chosen" if v.name == report.chosen
                                                       else "")
        t.add_row(name, v.status if not v.reason or v.status != "skipped" else "skipped",
                  _number(v.size_bytes / 1024 if v.size_bytes else None, ".0f"),
                  _number(v.metrics.get(primary), ".4f"), _number(v.delta.get(primary), "+.4f"),
                  _number(v.agreement, ".2%"), *_speed_cells(v.speed.get("cpu"), batches),
                  _number(v.speedup, ".2f") + ("x" if v.speedup else ""),
                  style=STYLE.get(v.status))
    return t


def _batches(report: Report) -> list[int]:
    for v in report.variants:
        cpu = v.speed.get("cpu")
        if isinstance(cpu, Speed):
            return sorted(cpu.rows_per_s)
    return [report.rank_batch]


def reasons(report: Report) -> list[str]:
    """One line per variant that was skipped, failed or rejected."""
    return [f"{v.name}: {v.status}: {v.reason}" for v in report.variants
            if v.status in ("skipped", "failed", "rejected")]


def write_json(report: Report, path: Path) -> Path:
    """``report`` as strict JSON: a metric that is not defined (NaN) is ``null``."""
    path.write_text(json.dumps(_finite(report.to_json()), indent=2, default=_plain,
                               allow_nan=False) + "\n")
    return path


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float as ``None``."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _plain(value: Any) -> Any:
    return str(value)


def _points(variants: list[VariantReport], primary: str,
            batch: int) -> list[tuple[VariantReport, float, float]]:
    out = []
    for v in variants:
        cpu = v.speed.get("cpu")
        if isinstance(cpu, Speed) and primary in v.metrics:
            out.append((v, cpu.rows_per_s[batch], v.metrics[primary]))
    return out


def _groups(points: list[tuple[VariantReport, float, float]]) -> list[tuple[str, float, float]]:
    """One label per cluster of points at (nearly) the same place: names joined."""
    groups: list[tuple[list[str], float, float]] = []
    for v, speed, metric in sorted(points, key=lambda p: p[1]):
        for names, s, m in groups:
            if abs(speed / s - 1) < 0.06 and abs(metric - m) < 1e-9:
                names.append(v.name)
                break
        else:
            groups.append(([v.name], speed, metric))
    return [(", ".join(names), s, m) for names, s, m in groups]


def _draw(ax: Any, points: list[tuple[VariantReport, float, float]]) -> None:
    for v, speed, metric in points:
        ax.scatter(speed, metric, s=90 if v.pareto else 30,
                   color={"rejected": "tab:red", "original": "black"}.get(v.status, "tab:green"),
                   marker="*" if v.pareto else "o", zorder=3)
    for k, (label, speed, metric) in enumerate(_groups(points)):
        ax.annotate(label, (speed, metric), fontsize=7, xytext=(4, 4 if k % 2 else -9),
                    textcoords="offset points")
    front = sorted((s, m) for v, s, m in points if v.pareto)
    if front:
        ax.plot(*zip(*front, strict=True), color="tab:blue", lw=1, ls="--",
                label="Pareto front")
    ax.set_xscale("log")
    ax.grid(True, alpha=0.3)


def write_png(report: Report, path: Path) -> Path:
    """Quality against CPU rows/s at the ranking batch, the Pareto front joined by a line:
    every variant (left), and the band near the original's quality (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = _points(report.variants, report.primary_metric, report.rank_batch)
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 5.5))
    _draw(left, points)
    base = report.variant("original").metrics.get(report.primary_metric, math.nan)
    band = 4 * report.max_loss * abs(base)
    near = [p for p in points if abs(p[2] - base) <= band] or points
    _draw(right, near)
    if not math.isnan(base):
        edge = tolerance_edge(report.primary_metric, base, report.max_loss)
        right.axhline(edge, color="tab:red", lw=0.8, ls=":", label="--max-loss")
    for ax in (left, right):
        ax.set_xlabel(f"CPU rows/s at batch {report.rank_batch} (log)")
        ax.set_ylabel(report.primary_metric)
        ax.legend(loc="lower left")
    left.set_title(f"{Path(report.model).name}: every variant (red: beyond --max-loss)")
    right.set_title(f"near the original's {report.primary_metric}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
