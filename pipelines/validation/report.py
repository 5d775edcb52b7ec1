"""Write ``report.json`` and a self-contained ``report.html`` (plots inline as base64)."""

from __future__ import annotations

import html
from dataclasses import asdict
from pathlib import Path
from typing import Any

import orjson

from streaminfer.pipelines.validation.model_report import ModelReport, finite
from streaminfer.pipelines.validation.moments import Timeline, utc
from streaminfer.pipelines.validation.plots import figures
from streaminfer.pipelines.validation.report_sections import (
    fmt,
    model_sections,
    table,
    with_interval,
)


def as_json(source: str, rows: int, reports: list[ModelReport],
            marks: Timeline | None = None) -> dict[str, Any]:
    """The report's numbers (NaN as null); ``timeline``: the rollout moments, when the rows
    say which version served them."""
    models = []
    for report in reports:
        data = asdict(report)
        data.pop("plots")
        data["metrics"] = {k: finite(v) for k, v in report.metrics.items()}
        data["intervals"] = {k: [finite(lo), finite(hi)]
                             for k, (lo, hi) in report.intervals.items()}
        if report.drift is not None:
            data["drift"] = {k: finite(v) for k, v in report.drift.items()}
        for row in data["drift_tests"] or []:
            row.update({k: finite(row[k]) for k in ("psi", "chi2", "p_value")})
        models.append(data)
    return {"data": {"source": source, "rows": rows}, "models": models,
            "timeline": None if marks is None else marks.as_dict()}


def write_report(out_dir: Path, source: str, rows: int, reports: list[ModelReport],
                 marks: Timeline | None = None) -> tuple[Path, Path]:
    """Write both files into ``out_dir``; their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    numbers = as_json(source, rows, reports, marks)
    json_path = out_dir / "report.json"
    json_path.write_bytes(orjson.dumps(numbers, option=orjson.OPT_INDENT_2
                                       | orjson.OPT_SERIALIZE_NUMPY))
    html_path = out_dir / "report.html"
    html_path.write_text(_html(source, rows, reports, marks), encoding="utf-8")
    return json_path, html_path


def metric_cell(report: ModelReport, metric: str) -> str:
    """A metric and its interval, as ``0.9512 [0.9300, 0.9700]`` (HTML)."""
    return with_interval(report.metrics.get(metric), report.intervals.get(metric))


def _html(source: str, rows: int, reports: list[ModelReport], marks: Timeline | None,
          ) -> str:
    names = [html.escape(r.label) for r in reports]
    metrics = list(dict.fromkeys(m for r in reports for m in r.metrics))
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>streaminfer validation</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;"
        "margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
        ".models{display:flex;gap:2em;flex-wrap:wrap}.drifted{color:#b00;font-weight:bold}"
        "</style></head><body>",
        "<h1>streaminfer validation</h1>",
        f"<p>data: <code>{html.escape(source)}</code>, {rows:,} labelled rows</p>",
        "<h2>metrics</h2>",
        f"<p>[low, high]: {html.escape(reports[0].interval_method)}.</p>",
        table(["metric", *names],
               [[html.escape(m), *(metric_cell(r, m) for r in reports)] for m in metrics]),
    ]
    drift_names = list(dict.fromkeys(k for r in reports for k in (r.drift or {})))
    if drift_names:
        method = next(r.drift_test_method for r in reports if r.drift_test_method)
        header = ["feature", *(f"{n}: {h}" for n in names for h in ("PSI", "chi2 p-value"))]
        parts += ["<h2>drift against the training profile</h2>",
                  "<p>Highest PSI first. PSI above 0.2 (in red) is a significant shift. "
                  f"p-value: {html.escape(method)}; below 0.01 (in red) the data's bins "
                  "differ from training's beyond chance (with many features, expect about "
                  "1 in 100 below it by chance).</p>",
                  *(f"<p>{name}: {_drift_summary(r)}.</p>" for name, r in
                    zip(names, reports, strict=True) if r.drift_tests),
                  table(header, [[html.escape(k), *(cell for r in reports
                                                    for cell in _drift_cells(r, k))]
                                 for k in drift_names])]
    if marks is not None:
        parts += _timeline_html(marks)
    moments = marks.moments if marks is not None else []
    parts.append("<div class='models'>")
    for name, report in zip(names, reports, strict=True):
        parts.append(f"<div><h2>{name}</h2><p><code>{html.escape(report.path)}</code><br>"
                     f"sha256 {report.sha256[:16]}..., {report.kind}</p>")
        if report.class_names:
            parts.append("<p>classes: " + ", ".join(
                f"{i} = {html.escape(n)}" for i, n in enumerate(report.class_names)) + "</p>")
        if report.refused:
            parts.append(f"<p>{sum(report.refused.values()):,} rows refused by the model's "
                         "inputs and left out (the pipeline would dead-letter them): "
                         + ", ".join(f"{count:,} {html.escape(reason)}"
                                     for reason, count in report.refused.items()) + "</p>")
        parts += model_sections(report)
        for title, png in figures(report, moments).items():
            parts.append(f"<h3>{html.escape(title)}</h3>"
                         f"<img alt='{html.escape(title)}' src='data:image/png;base64,{png}'>")
        parts.append("</div>")
    parts.append("</div></body></html>")
    return "\n".join(parts)


def _drift_summary(report: ModelReport) -> str:
    """How many features drifted, by PSI and by the test."""
    features = [r for r in report.drift_tests or [] if r["feature"] != "prediction"]
    by_psi = sum(r["psi"] > 0.2 for r in features)
    by_test = sum(r["p_value"] < 0.01 for r in features)
    return (f"{by_psi} of {len(features)} features with PSI above 0.2, {by_test} with "
            "p below 0.01")


def _drift_cells(report: ModelReport, feature: str) -> list[str]:
    """PSI and the test's p-value of one feature, red where they flag a shift."""
    row = next((r for r in report.drift_tests or [] if r["feature"] == feature), None)
    if row is None:
        return ["-", "-"]
    value, p = row["psi"], row["p_value"]
    cells = [fmt(value), "-" if p != p else f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"]
    return [f"<span class='drifted'>{c}</span>" if flag else c for c, flag in
            zip(cells, (value == value and value > 0.2, p == p and p < 0.01), strict=True)]


def _timeline_html(marks: Timeline) -> list[str]:
    """The rollout moments as a table (the plots mark the same moments)."""
    read = (f"{marks.alerts_read:,} alerts read from "
            + ", ".join(f"<code>{html.escape(w)}</code>" for w in marks.alerts_from)
            if marks.alerts_from else "no alerts read (the data's own moments only)")
    rows = [[html.escape(utc(m.ts_ms)), html.escape(m.label), html.escape(m.source),
             html.escape(m.message)] for m in marks.moments]
    return ["<h2>rollout moments</h2>", f"<p>{read}</p>",
            table(["time (UTC)", "moment", "from", "message"], rows)]
