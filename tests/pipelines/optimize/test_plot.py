"""``report.png`` readable at a glance: on the benchmark's own numbers (a crowd of variants
at nearly the same speed and accuracy), no two labels overlap, none covers a point, and the
chosen variant is ringed, named in the legend and labelled in bold."""

from __future__ import annotations

import importlib.util
import json
from itertools import combinations
from pathlib import Path

import pytest
from matplotlib.text import Text

from streaminfer.pipelines.optimize.plot import figure, write_png
from streaminfer.pipelines.optimize.run import Report
from streaminfer.pipelines.optimize.timing import Speed

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def report() -> Report:
    """The report docs/benchmarks/optimize.json stands for (read by the benchmark, which
    redraws docs/benchmarks/optimize.png from it with --plot-from)."""
    spec = importlib.util.spec_from_file_location("bench_optimize",
                                                  REPO / "benchmarks" / "optimize.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    summary = json.loads((REPO / "docs" / "benchmarks" / "optimize.json").read_text())
    made: Report = bench.from_summary(summary)
    return made


def test_no_label_overlaps_another_or_a_point(report: Report) -> None:
    fig = figure(report)
    renderer = fig.canvas.get_renderer()
    labelled = 0
    for ax in fig.axes:
        boxes = [Text.get_window_extent(t, renderer) for t in ax.texts]
        labelled += len(boxes)
        for a, b in combinations(boxes, 2):
            assert not a.overlaps(b), (a, b)
        inside = ax.get_window_extent(renderer)
        for box in boxes:
            assert inside.x0 <= box.x0 and box.x1 <= inside.x1
            assert inside.y0 <= box.y0 and box.y1 <= inside.y1
        for collection in ax.collections:
            for x, y in collection.get_offsets():
                px, py = ax.transData.transform((x, y))
                for box in boxes:
                    assert not (box.x0 < px < box.x1 and box.y0 < py < box.y1)
    names = [v.name for v in report.variants if isinstance(v.speed.get("cpu"), Speed)]
    shown = " ".join(t.get_text() for ax in fig.axes for t in ax.texts)
    assert all(name in shown for name in names)  # each variant named once at least
    assert labelled >= 8


def test_the_chosen_variant_is_ringed_named_and_bold(report: Report, tmp_path: Path) -> None:
    assert report.chosen == "int8-dynamic"
    fig = figure(report)
    chosen = report.variant("int8-dynamic")
    for ax in fig.axes:
        (ring,) = [c for c in ax.collections if c.get_gid() == "chosen"]
        assert ring.get_offsets().tolist() == [[chosen.speed["cpu"].rows_per_s[256],
                                                chosen.metrics["accuracy"]]]
        assert "chosen: int8-dynamic" in [t.get_text() for t in ax.get_legend().get_texts()]
    bold = [t.get_text() for t in fig.axes[1].texts if t.get_fontweight() == "bold"]
    assert bold == ["int8-dynamic"]
    assert write_png(report, tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"
