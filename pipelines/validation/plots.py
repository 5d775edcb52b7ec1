"""The report's figures as base64 PNGs (matplotlib, no display needed)."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import numpy as np

from streaminfer.pipelines.lifecycle.versions import version_label
from streaminfer.pipelines.validation.model_report import ModelReport, primary_metric
from streaminfer.pipelines.validation.moments import Moment


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def _figure(width: float = 4.2, height: float = 3.4) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height))


def figures(report: ModelReport, moments: Sequence[Moment] = ()) -> dict[str, str]:
    """Title -> base64 PNG, for the plots that apply to this model and data; the metric over
    time marks ``moments``."""
    out: dict[str, str] = {}
    if report.confusion_matrix is not None:
        out["confusion matrix"] = _confusion(np.asarray(report.confusion_matrix),
                                             report.class_names)
    if report.roc_curve is not None:
        fig, ax = _figure()
        ax.plot(report.roc_curve["fpr"], report.roc_curve["tpr"], label="model")
        ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="chance")
        ax.set(xlabel="false positive rate", ylabel="true positive rate",
               title=f"ROC (AUC {report.metrics.get('roc_auc', float('nan')):.3f})")
        ax.legend(loc="lower right")
        out["ROC curve"] = _png(fig)
    if report.pr_curve is not None:
        out["precision-recall curve"] = _pr_curve(report.pr_curve)
    if report.calibration is not None:
        out["calibration curve"] = _calibration(report.calibration)
    if "residual" in report.plots:
        fig, ax = _figure()
        ax.scatter(report.plots["predicted"], report.plots["residual"], s=6, alpha=0.5)
        ax.axhline(0, color="grey", linestyle=":")
        ax.set(xlabel="predicted", ylabel="target - predicted", title="residuals")
        out["residuals"] = _png(fig)
        fig, ax = _figure()
        target = report.plots["predicted"] + report.plots["residual"]
        ax.scatter(target, report.plots["predicted"], s=6, alpha=0.5)
        ends = [min(target.min(), report.plots["predicted"].min()),
                max(target.max(), report.plots["predicted"].max())]
        ax.plot(ends, ends, color="grey", linestyle=":", label="predicted = target")
        ax.set(xlabel="target", ylabel="predicted", title="predicted vs target")
        ax.legend(loc="upper left", fontsize=8)
        out["predicted vs target"] = _png(fig)
    if report.over_time:
        out["metric over time"] = _over_time(report, moments)
    top = [row for row in report.drift_tests or [] if row["feature"] != "prediction"][:3]
    if top:
        out["reference vs current: the highest-PSI features"] = _histograms(top)
    return out


def _histograms(rows: list[dict[str, Any]]) -> str:
    """Per feature, the training profile's share of rows per bin beside the data's."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rows), 1, figsize=(5.0, 2.6 * len(rows)), squeeze=False)
    for ax, row in zip(axes[:, 0], rows, strict=True):
        x = np.arange(len(row["bins"]))
        ax.bar(x - 0.2, row["reference_share"], width=0.4, label="training profile",
               color="tab:grey")
        ax.bar(x + 0.2, row["current_share"], width=0.4, label="this data", color="tab:blue")
        p = row["p_value"]
        ax.set_title(f"{row['feature']}: PSI {row['psi']:.3f}, chi2 p "
                     + ("-" if p != p else f"{p:.2g}"), fontsize=9)
        ax.set_ylabel("share of rows")
        ax.set_xticks(x)
        ax.set_xticklabels(row["bins"], rotation=35, ha="right", fontsize=7)
        top = max(max(row["reference_share"]), max(row["current_share"]))
        ax.set_ylim(0, top * 1.3)  # room for the legend above the bars
        ax.legend(loc="upper right", fontsize=7, ncol=2)
    return _png(fig)


def _confusion(matrix: np.ndarray, names: list[str] | None = None) -> str:
    """Coloured by the share of each true class's rows; each cell: count and percent."""
    totals = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, totals, out=np.zeros(matrix.shape), where=totals > 0) * 100
    k = matrix.shape[0]
    size = 3.6 if k <= 3 else min(3.6 + 0.45 * k, 8.0)
    fig, ax = _figure(size, size * 0.9)
    ax.imshow(share, cmap="Blues", vmin=0, vmax=100)
    small = 7 if k > 6 else 9
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, f"{value}\n{share[i, j]:.0f}%", ha="center", va="center",
                fontsize=small, color="white" if share[i, j] > 50 else "black")
    ax.set(xlabel="predicted", ylabel="true", title="confusion matrix (% of true class)",
           xticks=range(matrix.shape[1]), yticks=range(matrix.shape[0]))
    if names is not None:
        ax.set_xticklabels(names, rotation=45 if k > 4 else 0, ha="right" if k > 4 else "center")
        ax.set_yticklabels(names)
    return _png(fig)


def _pr_curve(curve: dict[str, Any]) -> str:
    """Precision against recall; the threshold marks as labelled points."""
    fig, ax = _figure()
    ax.plot(curve["recall"], curve["precision"], label="model")
    for mark, colour in zip(curve["marks"], ("tab:green", "tab:orange", "tab:red"),
                            strict=False):
        if mark["precision"] is None or mark["recall"] is None:
            continue
        ax.plot(mark["recall"], mark["precision"], "o", color=colour,
                label=f"p >= {mark['threshold']:.1f}: precision {mark['precision']:.2f}, "
                      f"recall {mark['recall']:.2f}")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1.02), ylim=(0, 1.05),
           title=f"precision-recall (AP {curve['average_precision']:.3f})")
    ax.legend(loc="lower left", fontsize=7)
    return _png(fig)


def _calibration(calibration: dict[str, list[float]]) -> str:
    """Observed rate against mean confidence per bin, over a bar chart of the bins' rows."""
    import matplotlib.pyplot as plt

    fig, (ax, below) = plt.subplots(2, 1, figsize=(4.2, 4.4), sharex=True,
                                    gridspec_kw={"height_ratios": [3, 1]})
    ax.plot(calibration["confidence"], calibration["observed"], marker="o", label="model")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="perfect")
    for x, y, rows in zip(calibration["confidence"], calibration["observed"],
                          calibration["rows"], strict=True):  # each point's rows
        ax.annotate(f"{int(rows)}", (x, y), textcoords="offset points",
                    xytext=(0, -11 if y > 0.5 else 5), ha="center", fontsize=7,
                    color="tab:blue")
    ax.set(ylabel="observed rate", title="calibration (rows per bin at each point)",
           xlim=(0, 1), ylim=(-0.06, 1.06))
    ax.legend(loc="upper left", fontsize=8)
    starts = calibration.get("bin_from") or [c - 0.05 for c in calibration["confidence"]]
    below.bar(starts, calibration["rows"], width=0.1, align="edge", color="tab:blue",
              alpha=0.5, edgecolor="white")
    below.set(xlabel="mean predicted probability", ylabel="rows")
    return _png(fig)


def _over_time(report: ModelReport, moments: Sequence[Moment]) -> str:
    """The primary metric per version over time (UTC), the moments as labelled vertical
    lines: the alerts' dashed in colour along the top, the data's dotted grey along the
    bottom."""
    assert report.over_time is not None
    import matplotlib.dates as mdates

    metric = primary_metric(report.kind)
    fig, ax = _figure(9.0, 4.2) if moments else _figure(6.0, 3.2)
    for version, points in report.over_time.items():
        ax.plot([_when(p["to_ms"]) for p in points], [p[metric] for p in points],
                marker="o", label=version_label(version))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))  # type: ignore[no-untyped-call]
    ax.set(xlabel="predicted at (UTC)", ylabel=metric,
           title=f"{metric} over time by model version ({report.over_time_source})")
    times = [p["to_ms"] for points in report.over_time.values() for p in points]
    times += [m.ts_ms for m in moments]
    span = max(times) - min(times)
    pad = max(span * 0.04, 500)
    ax.set_xlim(_when(min(times) - pad), _when(max(times) + pad))
    transform = ax.get_xaxis_transform()  # x in data, y in axes fraction
    for ts_ms, kind, label, alert in merged_lines(moments, span * 0.015):
        colour = KIND_COLOURS.get(kind, "grey")
        ax.axvline(_when(ts_ms), color=colour, linestyle="--" if alert else ":",
                   linewidth=1.0, alpha=0.8)
        ax.text(_when(ts_ms), 0.98 if alert else 0.02, f" {label}", transform=transform,
                rotation=90, fontsize=7, color=colour, va="top" if alert else "bottom",
                ha="right")
    if moments:  # outside, on the right: the moments' labels fill the plot's edges
        ax.legend(title="version", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:
        ax.legend(title="version")
    return _png(fig)


def merged_lines(moments: Sequence[Moment], within_ms: float,
                 ) -> list[tuple[int, str, str, bool]]:
    """One line per moment, ``(ts, kind, label, from alerts)``; moments of the same source
    closer than ``within_ms`` to the previous one share its line (labels joined).

    >>> from streaminfer.pipelines.validation.moments import moments_from_data
    >>> [line[2] for line in merged_lines(moments_from_data(["1", "2"], [0, 10]), 50)]
    ['v1 first served / v1 last served / v2 first served / v2 last served']
    """
    lines: list[tuple[int, str, str, bool]] = []
    for moment in sorted(moments, key=lambda m: m.ts_ms):
        alert = moment.source == "alerts"
        same = [i for i, line in enumerate(lines) if line[3] == alert]
        if same and moment.ts_ms - lines[same[-1]][0] <= within_ms:
            ts, kind, label, _ = lines[same[-1]]
            lines[same[-1]] = (ts, kind, f"{label} / {moment.label}", alert)
        else:
            lines.append((moment.ts_ms, moment.kind, moment.label, alert))
    return lines


#: Colours of the moments' lines by kind (others grey).
KIND_COLOURS = {"drift": "tab:red", "retrain": "tab:orange", "candidate": "tab:olive",
                "shadow": "tab:purple", "canary": "tab:purple", "promote": "tab:green",
                "swap": "tab:blue", "rollback": "tab:brown"}


def _when(ts_ms: float) -> datetime:
    return datetime.fromtimestamp(ts_ms / 1000, tz=timezone.utc)
