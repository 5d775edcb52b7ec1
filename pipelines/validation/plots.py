"""The report's figures as base64 PNGs (matplotlib, no display needed)."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np

from streaminfer.pipelines.validation.evaluate import ModelReport, primary_metric


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


def figures(report: ModelReport) -> dict[str, str]:
    """Title -> base64 PNG, for the plots that apply to this model and data."""
    out: dict[str, str] = {}
    if report.confusion_matrix is not None:
        out["confusion matrix"] = _confusion(np.asarray(report.confusion_matrix))
    if report.roc_curve is not None:
        fig, ax = _figure()
        ax.plot(report.roc_curve["fpr"], report.roc_curve["tpr"], label="model")
        ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="chance")
        ax.set(xlabel="false positive rate", ylabel="true positive rate",
               title=f"ROC (AUC {report.metrics.get('roc_auc', float('nan')):.3f})")
        ax.legend(loc="lower right")
        out["ROC curve"] = _png(fig)
    if report.calibration is not None:
        fig, ax = _figure()
        ax.plot(report.calibration["confidence"], report.calibration["observed"], marker="o")
        ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
        ax.set(xlabel="mean predicted probability", ylabel="observed rate",
               title="calibration", xlim=(0, 1), ylim=(0, 1))
        out["calibration curve"] = _png(fig)
    if "residual" in report.plots:
        fig, ax = _figure()
        ax.scatter(report.plots["predicted"], report.plots["residual"], s=6, alpha=0.5)
        ax.axhline(0, color="grey", linestyle=":")
        ax.set(xlabel="predicted", ylabel="target - predicted", title="residuals")
        out["residuals"] = _png(fig)
    if report.over_time:
        out["metric over time"] = _over_time(report)
    return out


def _confusion(matrix: np.ndarray) -> str:
    fig, ax = _figure(3.6, 3.2)
    ax.imshow(matrix, cmap="Blues")
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, str(value), ha="center", va="center",
                color="white" if value > matrix.max() / 2 else "black")
    ax.set(xlabel="predicted", ylabel="true", title="confusion matrix",
           xticks=range(matrix.shape[1]), yticks=range(matrix.shape[0]))
    return _png(fig)


def _over_time(report: ModelReport) -> str:
    assert report.over_time is not None
    metric = primary_metric(report.kind)
    fig, ax = _figure(6.0, 3.2)
    for version, points in report.over_time.items():
        ax.plot([p["to_ms"] / 1000 for p in points], [p[metric] for p in points],
                marker="o", label=version)
    ax.set(xlabel="predicted at (epoch s)", ylabel=metric,
           title=f"{metric} over time by model version ({report.over_time_source})")
    ax.legend(title="version")
    return _png(fig)
