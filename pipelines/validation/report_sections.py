"""The report's HTML tables for one model: per-class metrics, confusion matrix counts and
percentages, the precision-recall curve's threshold marks, calibration bins."""

from __future__ import annotations

import html
from typing import Any

from streaminfer.pipelines.lifecycle.versions import version_label
from streaminfer.pipelines.validation.model_report import ModelReport


def fmt(value: float | None, digits: int = 4) -> str:
    """A number for a table cell (``-`` for none or NaN)."""
    return "-" if value is None or value != value else f"{value:.{digits}f}"


def table(header: list[str], rows: list[list[str]]) -> str:
    """An HTML table; cells are HTML already, headers are escaped."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def with_interval(value: float | None, interval: Any = None) -> str:
    """A metric and its interval, as ``0.9512 [0.9300, 0.9700]``."""
    low, high = interval if interval is not None else (None, None)
    if value is None or value != value or low is None or low != low:
        return fmt(value)
    return f"{fmt(value)} <small>[{fmt(low)}, {fmt(high)}]</small>"


def class_label(report: ModelReport, index: int) -> str:
    """A class's name where the model names it, else its index."""
    if report.class_names and index < len(report.class_names):
        return html.escape(report.class_names[index])
    return str(index)


def model_sections(report: ModelReport) -> list[str]:
    """The detail tables of one model that apply to it."""
    parts: list[str] = []
    if report.by_version:
        parts += _by_version(report, report.by_version)
    if report.slices is not None:
        parts += _slices(report.slices)
    if report.per_class is not None:
        parts += _per_class(report, report.per_class)
    if report.confusion_matrix is not None and report.confusion_matrix_normalized is not None:
        parts += _confusion(report, report.confusion_matrix, report.confusion_matrix_normalized)
    if report.pr_curve is not None:
        parts += ["<h3>precision and recall by threshold</h3>",
                  f"<p>average precision {fmt(report.pr_curve['average_precision'])}; "
                  "positive when the positive-class probability &ge; the threshold.</p>",
                  table(["threshold", "rows predicted positive", "precision", "recall"],
                        [[fmt(m["threshold"], 2), f"{m['rows_positive']:,}",
                          fmt(m["precision"]), fmt(m["recall"])]
                         for m in report.pr_curve["marks"]])]
    if report.calibration is not None:
        c = report.calibration
        what = ("positive-class probability" if report.classes and len(report.classes) == 2
                else "top-class probability (observed: the top class is the label)")
        parts += ["<h3>calibration bins</h3>", f"<p>confidence: the {what}.</p>",
                  table(["bin", "rows", "mean confidence", "observed rate"],
                        [[f"{lo:.1f}-{hi:.1f}", f"{int(n):,}", fmt(conf), fmt(obs)]
                         for lo, hi, n, conf, obs in zip(
                             c.get("bin_from", []), c.get("bin_to", []), c["rows"],
                             c["confidence"], c["observed"], strict=False)])]
    return parts


def _per_class(report: ModelReport, detail: dict[str, Any]) -> list[str]:
    rows = [[class_label(report, r["class"]), fmt(r["precision"]), fmt(r["recall"]),
             fmt(r["f1"]), f"{r['support']:,}"] for r in detail["classes"]]
    for average, values in detail["averages"].items():
        rows.append([f"<b>{average} average</b>", fmt(values["precision"]),
                     fmt(values["recall"]), fmt(values["f1"]), f"{values['support']:,}"])
    binary = report.classes is not None and len(report.classes) == 2
    headline = ("the metrics table's precision, recall and F1 are class 1's (the positive "
                "class)" if binary else "the metrics table's precision, recall and F1 are the "
                "macro averages")
    return ["<h3>per-class metrics</h3>",
            "<p>macro: the unweighted mean over classes; weighted: the mean weighted by "
            f"support (rows of the class); {headline}.</p>",
            table(["class", "precision", "recall", "F1", "support"], rows)]


def _confusion(report: ModelReport, counts: list[list[int]],
               percent: list[list[float]]) -> list[str]:
    header = ["true \\ predicted", *(class_label(report, j) for j in range(len(counts)))]
    rows = [[f"<b>{class_label(report, i)}</b>",
             *(f"{n:,} <small>({p:.1f}%)</small>" if n else "0"
               for n, p in zip(row, prow, strict=True))]
            for i, (row, prow) in enumerate(zip(counts, percent, strict=True))]
    return ["<h3>confusion matrix</h3>",
            "<p>rows: true class; columns: predicted class; count (percent of the true "
            "class's rows).</p>", table(header, rows)]


def _by_version(report: ModelReport, versions: dict[str, dict[str, Any]]) -> list[str]:
    """Per version that served the rows: its metrics as served beside this model's on the
    same rows."""
    header, columns = ["metric"], []
    for version, entry in versions.items():
        label = version_label(version)
        for view, title in (("served", "as served"), ("rescored", "re-scored")):
            if entry[view] is not None:
                header.append(f"{label} {title} ({entry['rows']:,} rows)")
                columns.append(entry[view])
    if not columns:
        return []
    rows = [[html.escape(metric), *(with_interval(c["metrics"].get(metric),
                                                  c["intervals"].get(metric))
                                    for c in columns)]
            for metric in report.metrics]
    served = any(e["served"] is not None for e in versions.values())
    what = ("as served: the outputs recorded with the rows, by the version that served "
            "them" if served else "the rows carry no served outputs, so only the re-scored "
            "view")
    return ["<h3>per version that served the rows</h3>",
            f"<p>{what}; re-scored: this model on the same rows.</p>", table(header, rows)]


def _slices(slices: dict[str, Any]) -> list[str]:
    """The primary metric per value of the ``--slice`` field."""
    metric = slices["metric"]
    rows = [[html.escape(str(s["value"])), f"{s['rows']:,}",
             with_interval(s[metric], s["interval"])] for s in slices["slices"]]
    return [f"<h3>{html.escape(metric)} by {html.escape(slices['field'])}</h3>",
            "<p>the most frequent values first (at most 8, the rest as 'other'); a numeric "
            "field with many values by quartile.</p>",
            table([slices["field"], "rows", metric], rows)]
