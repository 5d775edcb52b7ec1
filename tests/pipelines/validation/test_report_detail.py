"""The report's detail: intervals on every metric, per-class metrics with their averages,
the normalized confusion matrix, precision and recall at the threshold marks, calibration
bin counts; each checked against numpy computed here from the model's own outputs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pytest
from scipy.stats import chi2
from typer.testing import CliRunner

from streaminfer.cli.commands import app
from streaminfer.operators.drift import count_batch
from streaminfer.operators.profile import build_profile
from streaminfer.pipelines.devtools.example_models import Dataset
from streaminfer.pipelines.validation.classifier_detail import per_class
from streaminfer.pipelines.validation.drift_detail import drift_table
from streaminfer.pipelines.validation.slices import quartile_labels, slice_table

runner = CliRunner()


def test_per_class_metrics_and_averages_by_hand() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 4, 300)
    pred = np.where(rng.random(300) < 0.7, y, rng.integers(0, 4, 300))
    pred[pred == 3] = 2  # class 3 never predicted: precision 0 by convention
    got = per_class(y, pred, 4, ["a", "b", "c", "d"])
    f1s, supports = [], []
    for c, row in enumerate(got["classes"]):
        tp = np.sum((y == c) & (pred == c))
        precision = tp / np.sum(pred == c) if np.any(pred == c) else 0.0
        recall = tp / np.sum(y == c)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        assert row["name"] == "abcd"[c] and row["support"] == np.sum(y == c)
        assert (row["precision"], row["recall"], row["f1"]) == pytest.approx(
            (precision, recall, f1), abs=1e-12)
        f1s.append(f1)
        supports.append(row["support"])
    assert got["averages"]["macro"]["f1"] == pytest.approx(np.mean(f1s), abs=1e-12)
    assert got["averages"]["weighted"]["f1"] == pytest.approx(
        np.average(f1s, weights=supports), abs=1e-12)


def test_binary_report_detail(
    tmp_path: Path, validation_config: Callable[..., Path],
    dataset_factory: Callable[[str], Dataset], model_factory: Callable[[str], Path],
    onnx_outputs: Callable[..., list[np.ndarray]],
) -> None:
    data = dataset_factory("breast_cancer")
    take = np.random.default_rng(8).permutation(len(data.X))[:450]
    X, y = data.X[take], data.y[take].astype(int)
    pd.DataFrame(X, columns=data.features).assign(label=y).to_csv(tmp_path / "rows.csv",
                                                                  index=False)
    out = tmp_path / "out"
    result = runner.invoke(app, ["validate", str(validation_config("breast_cancer")),
                                 "--data", str(tmp_path / "rows.csv"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    (m,) = orjson.loads((out / "report.json").read_bytes())["models"]
    assert f"{m['name']} sha256 {m['version']}" in result.output  # a file model's version
    _, proba = onnx_outputs(model_factory("breast_cancer"), X)
    p1 = proba[:, 1].astype(np.float64) / proba.astype(np.float64).sum(axis=1)
    pred = np.argmax(proba, axis=1)

    # Every metric has an interval around it; accuracy's by a bootstrap of our own.
    assert set(m["intervals"]) == set(m["metrics"])
    for name, (lo, hi) in m["intervals"].items():
        assert lo <= m["metrics"][name] + 1e-12 and m["metrics"][name] <= hi + 1e-12, name
    rng = np.random.default_rng(0)
    hits = (pred == y).astype(float)
    means = np.concatenate([hits[rng.integers(0, 450, (100, 450))].mean(axis=1)
                            for _ in range(10)])
    assert m["intervals"]["accuracy"] == pytest.approx(
        list(np.percentile(means, [2.5, 97.5])), abs=1e-12)

    counts = np.array([[np.sum((y == i) & (pred == j)) for j in (0, 1)] for i in (0, 1)])
    assert m["confusion_matrix"] == counts.tolist()
    assert np.ravel(m["confusion_matrix_normalized"]) == pytest.approx(
        np.ravel(100 * counts / counts.sum(axis=1, keepdims=True)))
    assert m["per_class"]["classes"][1]["recall"] == pytest.approx(
        counts[1, 1] / counts[1].sum())

    marks = {mk["threshold"]: mk for mk in m["pr_curve"]["marks"]}
    assert sorted(marks) == [0.3, 0.5, 0.7]
    for t, mk in marks.items():
        chosen = p1 >= t
        assert mk["rows_positive"] == chosen.sum()
        assert mk["precision"] == pytest.approx(np.mean(y[chosen] == 1))
        assert mk["recall"] == pytest.approx(np.mean(chosen[y == 1]))

    which = np.minimum((p1 * 10).astype(int), 9)
    expected_rows = [float(np.sum(which == b)) for b in range(10) if np.any(which == b)]
    assert m["calibration"]["rows"] == expected_rows and sum(expected_rows) == 450

    page = (out / "report.html").read_text()
    acc, (lo, hi) = m["metrics"]["accuracy"], m["intervals"]["accuracy"]
    assert f"{acc:.4f} <small>[{lo:.4f}, {hi:.4f}]</small>" in page
    features = [r for r in m["drift_tests"] if r["feature"] != "prediction"]
    assert len(features) == len(data.features)
    low_p = sum(r["p_value"] is not None and r["p_value"] < 0.01 for r in features)
    assert (f"0 of {len(data.features)} features with PSI above 0.2, {low_p} with p below"
            in page)
    for heading in ("per-class metrics", "macro average", "weighted average",
                    "precision and recall by threshold", "calibration bins",
                    "precision-recall curve", "bootstrap percentile"):
        assert heading in page, heading


def test_drift_table_chi2_by_hand_and_sorted_by_psi() -> None:
    rng = np.random.default_rng(6)
    train = rng.normal(size=(2000, 3))
    profile = build_profile(["same", "shifted", "wider"], train, {"variable": train[:, 0]})
    now = rng.normal(size=(400, 3)) * [1, 1, 1.6] + [0, 0.8, 0]
    rows = drift_table(profile, count_batch(profile, now, [{"variable": v} for v in now[:, 0]]))
    psis = [r["psi"] for r in rows]
    assert psis == sorted(psis, reverse=True) and rows[0]["feature"] == "shifted"
    by_name = {r["feature"]: r for r in rows}
    for i, name in enumerate(["same", "shifted", "wider"]):
        edges = profile.features[i].edges
        ref = np.bincount(np.searchsorted(edges, train[:, i]), minlength=len(edges) + 1)
        cur = np.bincount(np.searchsorted(edges, now[:, i]), minlength=len(edges) + 1)
        table = np.vstack([ref, cur]).astype(float)
        expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0) / table.sum()
        statistic = ((table - expected) ** 2 / expected).sum()
        got = by_name[name]
        assert got["chi2"] == pytest.approx(statistic, rel=1e-9)
        assert got["dof"] == len(ref) - 1
        assert got["p_value"] == pytest.approx(chi2.sf(statistic, len(ref) - 1), rel=1e-6)
        assert got["current_share"] == pytest.approx((cur / cur.sum()).tolist())
    assert by_name["shifted"]["p_value"] < 1e-6 and by_name["wider"]["p_value"] < 1e-6
    assert by_name["same"]["p_value"] > 0.01


def test_metrics_per_version_as_served_beside_rescored(
    tmp_path: Path, validation_config: Callable[..., Path],
    dataset_factory: Callable[[str], Dataset], model_factory: Callable[[str], Path],
    onnx_outputs: Callable[..., list[np.ndarray]],
) -> None:
    data = dataset_factory("breast_cancer")
    rng = np.random.default_rng(9)
    n = 300
    take = rng.permutation(len(data.X))[:n]
    X, y = data.X[take], data.y[take].astype(int)
    version = np.where(np.arange(n) < 120, "1", "2")
    # v1 served the truth; v2 a coin flipped on a third of its rows.
    flip = (version == "2") & (rng.random(n) < 1 / 3)
    served_p1 = np.where((y == 1) != flip, 0.9, 0.1).tolist()
    lines = [orjson.dumps({
        "features": dict(zip(data.features, X[i].tolist(), strict=True)), "label": int(y[i]),
        "outputs": {"label": int(served_p1[i] > 0.5),
                    "probabilities": [1 - served_p1[i], served_p1[i]]},
        "model_version": str(version[i]), "predicted_at": 1_000_000 + i * 1000},
        option=orjson.OPT_SERIALIZE_NUMPY)
        for i in range(n)]
    (tmp_path / "rows.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "out"
    result = runner.invoke(app, ["validate", str(validation_config("breast_cancer")),
                                 "--data", str(tmp_path / "rows.jsonl"), "--out", str(out),
                                 "--slice", "model_version"])
    assert result.exit_code == 0, result.output
    (m,) = orjson.loads((out / "report.json").read_bytes())["models"]
    _, proba = onnx_outputs(model_factory("breast_cancer"), X)
    rescored = np.argmax(proba, axis=1)
    assert m["slices"]["field"] == "model_version" and m["slices"]["metric"] == "accuracy"
    assert [(s["value"], s["rows"]) for s in m["slices"]["slices"]] == [("2", 180), ("1", 120)]
    for s in m["slices"]["slices"]:
        assert s["accuracy"] == pytest.approx(np.mean((rescored == y)[version == s["value"]]))
        assert s["interval"][0] <= s["accuracy"] <= s["interval"][1]
    assert sorted(m["by_version"]) == ["1", "2"]
    for v, entry in m["by_version"].items():
        rows = version == v
        assert entry["rows"] == rows.sum()
        served = entry["served"]["metrics"]["accuracy"]
        assert served == pytest.approx(np.mean((np.asarray(served_p1)[rows] > 0.5) == y[rows]))
        lo, hi = entry["served"]["intervals"]["accuracy"]
        assert lo <= served <= hi
        assert entry["rescored"]["metrics"]["accuracy"] == pytest.approx(
            np.mean(rescored[rows] == y[rows]))
    assert m["by_version"]["1"]["served"]["metrics"]["accuracy"] == 1.0
    assert m["by_version"]["2"]["served"]["metrics"]["accuracy"] < 0.8
    page = (out / "report.html").read_text()
    assert "v2 as served (180 rows)" in page and "v2 re-scored (180 rows)" in page
    assert "accuracy by model_version" in page
    bad = runner.invoke(app, ["validate", str(validation_config("breast_cancer")), "--data",
                              str(tmp_path / "rows.jsonl"), "--out", str(out), "--slice", "nope"])
    assert bad.exit_code != 0 and "--slice nope: no such field" in str(bad.exception)


def test_slices_keep_the_top_values_and_pool_the_rest() -> None:
    rng = np.random.default_rng(4)
    n = 600
    groups = np.asarray([f"g{int(v)}" for v in np.minimum(rng.geometric(0.3, n), 12)],
                        dtype=object)
    y = rng.integers(0, 2, n)
    p1 = np.clip(np.where(y == 1, 0.65, 0.35) + rng.normal(0, 0.25, n), 0, 1)
    got = slice_table("classifier", y, np.column_stack([1 - p1, p1]), groups, "g")
    names, counts = np.unique(groups, return_counts=True)
    top = [str(v) for v in names[np.argsort(-counts, kind="stable")][:8]]
    values = [s["value"] for s in got["slices"]]
    assert values[:8] == top and values[8] == "other" and len(names) > 8
    for s in got["slices"]:
        rows = ~np.isin(groups, top) if s["value"] == "other" else groups == s["value"]
        assert s["rows"] == rows.sum()
        assert s["accuracy"] == pytest.approx(np.mean((p1[rows] > 0.5) == y[rows]))
    assert quartile_labels(np.arange(1.0, 101.0)).tolist().count("<= 25.75") == 25


def test_slices_of_a_regressor_by_quartile() -> None:
    rng = np.random.default_rng(12)
    x = rng.uniform(0, 10, 400)
    t = rng.normal(0, 1, 400)
    p = t + rng.normal(0, 1, 400) * (x / 5)  # the error grows with x
    got = slice_table("regressor", t, p, quartile_labels(x), "x")
    assert got["metric"] == "rmse" and len(got["slices"]) == 4
    cuts = np.quantile(x, [0.25, 0.5, 0.75])
    by_value = {s["value"]: s for s in got["slices"]}
    for q, label in enumerate(sorted(by_value, key=lambda v: by_value[v]["rmse"])):
        rows = np.searchsorted(cuts, x, side="left") == q
        assert by_value[label]["rows"] == rows.sum()
        assert by_value[label]["rmse"] == pytest.approx(np.sqrt(np.mean((t - p)[rows] ** 2)))
