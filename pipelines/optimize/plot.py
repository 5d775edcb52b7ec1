"""``report.png``: quality against CPU speed, every variant (left) and the band near the
original's quality (right), the Pareto front joined by a line, the chosen variant ringed.

Labels are placed one by one where they overlap no other label, no point and stay inside the
axes (:func:`place`); variants at the same place share one label.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from streaminfer.pipelines.optimize.compare import tolerance_edge
from streaminfer.pipelines.optimize.run import Report, VariantReport
from streaminfer.pipelines.optimize.timing import Speed

Point = tuple[VariantReport, float, float]
COLOURS = {"rejected": "tab:red", "original": "black"}
#: Where a label may go, in points from its point: beside, above, below, then further out
#: (with a leader line).
OFFSETS = [(dx * far, dy * far) for far in (1, 2.5, 4.5)
           for dx, dy in ((6, 0), (-6, 0), (0, 9), (0, -9), (6, 9), (-6, 9), (6, -9),
                          (-6, -9))]
MARKER_PX = 6  # half the side of the box a point's marker keeps free
RING_PX = 15  # the same for the ring around the chosen variant


def points(report: Report) -> list[Point]:
    """Each variant measured on the CPU: (variant, rows/s at the ranking batch, metric)."""
    out = []
    for v in report.variants:
        cpu = v.speed.get("cpu")
        value = v.metrics.get(report.primary_metric)
        if isinstance(cpu, Speed) and value is not None and not math.isnan(value):
            out.append((v, cpu.rows_per_s[report.rank_batch], value))
    return out


def groups(found: list[Point]) -> list[tuple[list[str], float, float]]:
    """One label per cluster of points at (nearly) the same place: their names.

    >>> from streaminfer.pipelines.optimize.run import VariantReport as V
    >>> groups([(V("a", "", {}, ""), 100.0, 0.9), (V("b", "", {}, ""), 102.0, 0.9),
    ...         (V("c", "", {}, ""), 300.0, 0.9)])
    [(['a', 'b'], 100.0, 0.9), (['c'], 300.0, 0.9)]
    """
    clusters: list[tuple[list[str], float, float]] = []
    for v, speed, metric in sorted(found, key=lambda p: p[1]):
        for names, s, m in clusters:
            if abs(speed / s - 1) < 0.06 and abs(metric - m) < 1e-9:
                names.append(v.name)
                break
        else:
            clusters.append(([v.name], speed, metric))
    return clusters


def overlaps(box: tuple[float, float, float, float],
             others: list[tuple[float, float, float, float]]) -> bool:
    """Whether ``box`` (x0, y0, x1, y1) overlaps any of ``others``.

    >>> overlaps((0, 0, 2, 2), [(1, 1, 3, 3)]), overlaps((0, 0, 2, 2), [(2.5, 0, 3, 1)])
    (True, False)
    """
    x0, y0, x1, y1 = box
    return any(x0 < b[2] and b[0] < x1 and y0 < b[3] and b[1] < y1 for b in others)


def place(ax: Any, renderer: Any, labels: list[tuple[str, float, float, bool]],
          taken: list[tuple[float, float, float, float]]) -> list[Any]:
    """Annotate each (text, x, y, bold) at the first offset of :data:`OFFSETS` where its text
    overlaps nothing in ``taken`` (display boxes: points, earlier labels) and stays inside
    the axes; the last offset if none does."""
    from matplotlib.text import Text

    inside = ax.get_window_extent(renderer)
    made = []
    for text, x, y, bold in labels:
        for k, (dx, dy) in enumerate(OFFSETS):
            far = dy != 0 or abs(dx) > 6  # not just beside its point: a leader line
            annotation = ax.annotate(
                text, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=7,
                ha="left" if dx > 0 else "right" if dx < 0 else "center", va="center",
                fontweight="bold" if bold else "normal", annotation_clip=False,
                arrowprops={"arrowstyle": "-", "lw": 0.5, "color": "0.5"} if far else None)
            annotation.set_in_layout(False)
            annotation.update_positions(renderer)  # the text's place, before any draw
            box = Text.get_window_extent(annotation, renderer)
            bounds = (box.x0 - 1, box.y0 - 1, box.x1 + 1, box.y1 + 1)
            fits = (inside.x0 <= box.x0 and box.x1 <= inside.x1 and inside.y0 <= box.y0
                    and box.y1 <= inside.y1)
            if (fits and not overlaps(bounds, taken)) or k == len(OFFSETS) - 1:
                taken.append(bounds)
                made.append(annotation)
                break
            annotation.remove()
    return made


def _draw(ax: Any, found: list[Point], chosen: str | None) -> None:
    for v, speed, metric in found:
        ax.scatter(speed, metric, s=90 if v.pareto else 30, zorder=3,
                   color=COLOURS.get(v.status, "tab:green"), marker="*" if v.pareto else "o")
        if v.name == chosen:
            ax.scatter(speed, metric, s=340, facecolors="none", edgecolors="black",
                       linewidths=1.6, zorder=4, gid="chosen", label=f"chosen: {chosen}")
    front = sorted((s, m) for v, s, m in found if v.pareto)
    if front:
        ax.plot(*zip(*front, strict=True), color="tab:blue", lw=1, ls="--",
                label="Pareto front (*)")
    ax.scatter([], [], color="tab:green", s=30, label="accepted")
    ax.scatter([], [], color="tab:red", s=30, label="rejected (beyond --max-loss)")
    ax.set_xscale("log")
    ax.grid(True, alpha=0.3)


def _label(ax: Any, renderer: Any, shown: list[Point], labelled: list[Point],
           chosen: str | None) -> None:
    """Label ``labelled``, keeping clear of every point ``shown``."""
    taken = []
    for v, speed, metric in shown:
        x, y = ax.transData.transform((speed, metric))
        free = RING_PX if v.name == chosen else MARKER_PX
        taken.append((x - free, y - free, x + free, y + free))
    labels = [(", ".join(names), s, m, chosen in names) for names, s, m in groups(labelled)]
    labels.sort(key=lambda label: not label[3])  # the chosen one first: its best place
    place(ax, renderer, labels, taken)


def figure(report: Report) -> Any:
    """The figure, labels placed (``matplotlib``'s Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    found = points(report)
    fig, (left, right) = plt.subplots(1, 2, figsize=(15, 6))
    base = report.variant("original").metrics.get(report.primary_metric, math.nan)
    band = 4 * report.max_loss * abs(base)
    near = [p for p in found if abs(p[2] - base) <= band] or found
    far = [p for p in found if p not in near]
    _draw(left, found, report.chosen)
    _draw(right, near, report.chosen)
    if not math.isnan(base) and far:
        left.axhspan(base - band, base + band, color="tab:blue", alpha=0.08,
                     label="band shown on the right")
    if not math.isnan(base):
        edge = tolerance_edge(report.primary_metric, base, report.max_loss)
        right.axhline(edge, color="tab:red", lw=0.8, ls=":", label="--max-loss edge")
    for ax in (left, right):
        ax.set_xlabel(f"CPU rows/s at batch {report.rank_batch} (log)")
        ax.set_ylabel(report.primary_metric)
        ax.margins(x=0.25, y=0.12)  # room for labels inside the axes
    left.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3, fontsize=8)
    right.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3, fontsize=8)
    left.set_title(f"{Path(report.model).name}: every variant"
                   + (" (those in the band: labelled on the right)" if far else ""), fontsize=10)
    right.set_title(f"near the original's {report.primary_metric}", fontsize=10)
    fig.tight_layout()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]  # Agg's canvas
    _label(left, renderer, found, far if far else found, report.chosen)
    _label(right, renderer, near, near, report.chosen)
    return fig


def write_png(report: Report, path: Path) -> Path:
    """:func:`figure` as a PNG."""
    import matplotlib.pyplot as plt

    fig = figure(report)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
