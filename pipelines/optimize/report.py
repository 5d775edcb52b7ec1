"""The comparison as a terminal table and ``report.json`` (the PNG: ``plot.py``)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from rich.table import Table

from streaminfer.pipelines.optimize.run import Report
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

