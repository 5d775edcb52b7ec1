"""``streaminfer validate`` on files: report.html and report.json written, the numbers equal
scikit-learn's computed here on the same rows with the model's own ONNX Runtime outputs."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pytest
import yaml
from sklearn import metrics as skm
from typer.testing import CliRunner

from streaminfer.cli.commands import app
from streaminfer.pipelines.devtools.example_models import Dataset, write_validation

REPO = Path(__file__).resolve().parents[3]
runner = CliRunner()


def _run(*args: str) -> dict:  # type: ignore[type-arg]
    result = runner.invoke(app, ["validate", *args])
    assert result.exit_code == 0, result.output
    out = Path(args[args.index("--out") + 1])
    html = (out / "report.html").read_text()
    assert html.startswith("<!doctype html>") and "<script" not in html
    assert len(re.findall(r"src='data:image/png;base64,", html)) >= 1
    report: dict = orjson.loads((out / "report.json").read_bytes())  # type: ignore[type-arg]
    return report


def test_classifier_from_csv_with_a_comparison(
    tmp_path: Path, validation_config: Callable[..., Path],
    dataset_factory: Callable[[str], Dataset], model_factory: Callable[[str], Path],
    onnx_outputs: Callable[..., list[np.ndarray]],
) -> None:
    data = dataset_factory("breast_cancer")
    rng = np.random.default_rng(4)
    take = rng.permutation(len(data.X))[:400]
    X, y = data.X[take], data.y[take]
    frame = pd.DataFrame(X, columns=data.features).assign(label=y)
    frame.to_csv(tmp_path / "rows.csv", index=False)
    config = validation_config("breast_cancer")
    model = model_factory("breast_cancer")
    report = _run(str(config), "--data", str(tmp_path / "rows.csv"), "--out",
                  str(tmp_path / "out"), "--compare", str(model))

    label, proba = onnx_outputs(model, X)
    predicted = np.argmax(proba, axis=1)
    assert report["data"]["rows"] == 400 and len(report["models"]) == 2
    for m in report["models"]:
        got = m["metrics"]
        assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, predicted), abs=1e-12)
        assert got["precision"] == pytest.approx(skm.precision_score(y, predicted), abs=1e-12)
        assert got["recall"] == pytest.approx(skm.recall_score(y, predicted), abs=1e-12)
        assert got["f1"] == pytest.approx(skm.f1_score(y, predicted), abs=1e-12)
        assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba[:, 1]), abs=1e-12)
        assert got["log_loss"] == pytest.approx(
            skm.log_loss(y, np.clip(rows_sum_to_one(proba), 1e-15, 1)), rel=1e-9)
        assert m["confusion_matrix"] == skm.confusion_matrix(y, predicted).tolist()
        assert m["kind"] == "classifier" and m["rows"] == 400
        # A random sample of the training rows: no feature drifts against the profile.
        assert m["drift"] is not None and max(m["drift"].values()) < 0.1
    assert (label == predicted).all()


def test_regressor_from_parquet(
    tmp_path: Path, validation_config: Callable[..., Path],
    dataset_factory: Callable[[str], Dataset], model_factory: Callable[[str], Path],
    onnx_outputs: Callable[..., list[np.ndarray]],
) -> None:
    data = dataset_factory("diabetes")
    X, y = data.X[:300], data.y[:300]
    pd.DataFrame(X, columns=data.features).assign(label=y).to_parquet(tmp_path / "rows.parquet")
    report = _run(str(validation_config("diabetes")), "--data", str(tmp_path / "rows.parquet"),
                  "--out", str(tmp_path / "out"))
    (predicted,) = onnx_outputs(model_factory("diabetes"), X)
    predicted = predicted.reshape(-1).astype(np.float64)
    (m,) = report["models"]
    assert m["kind"] == "regressor"
    assert m["metrics"]["mae"] == pytest.approx(skm.mean_absolute_error(y, predicted), rel=1e-12)
    assert m["metrics"]["rmse"] == pytest.approx(
        np.sqrt(skm.mean_squared_error(y, predicted)), rel=1e-12)
    assert m["metrics"]["r2"] == pytest.approx(skm.r2_score(y, predicted), rel=1e-12)
    assert m["residuals"]["mean"] == pytest.approx(float(np.mean(y - predicted)), rel=1e-9)


def test_bad_input_is_one_line(tmp_path: Path, validation_config: Callable[..., Path]) -> None:
    (tmp_path / "rows.csv").write_text("a,b\n1,2\n")
    result = runner.invoke(app, ["validate", str(validation_config("breast_cancer")),
                                 "--data", str(tmp_path / "rows.csv"), "--out",
                                 str(tmp_path / "out")])
    assert result.exit_code != 0
    assert "label" in str(result.exception)
    bad_range = runner.invoke(app, ["validate", str(validation_config("breast_cancer")),
                                    "--data", "kafka:x?start=9&end=3",
                                    "--out", str(tmp_path / "o")])
    assert "ends before it starts" in str(bad_range.exception)


def test_labels_that_are_not_classes_are_refused(
    tmp_path: Path, validation_config: Callable[..., Path],
    dataset_factory: Callable[[str], Dataset],
) -> None:
    data = dataset_factory("breast_cancer")
    frame = pd.DataFrame(data.X[:20], columns=data.features)
    config = str(validation_config("breast_cancer"))
    for label, says in ((["benign"] * 20, "labels must be numbers"),
                        ([0, 1] * 9 + [2, 0], "labels must be 0..1; 1 row(s) are not"),
                        ([None] + [1] * 19, "1 of 20 rows have no label")):
        frame.assign(label=label).to_json(tmp_path / "rows.jsonl", orient="records",
                                          lines=True)
        result = runner.invoke(app, ["validate", config, "--data", str(tmp_path / "rows.jsonl"),
                                     "--out", str(tmp_path / "out")])
        assert result.exit_code != 0 and says in str(result.exception), result.exception


def rows_sum_to_one(proba: np.ndarray) -> np.ndarray:
    """float32 probabilities in float64, each row scaled to sum to 1 (as quality does)."""
    wide = proba.astype(np.float64)
    return wide / wide.sum(axis=1, keepdims=True)


def test_the_shipped_config_with_a_renamed_label(
    tmp_path: Path, model_factory: Callable[[str], Path],
) -> None:
    """configs/mlp-scoring.yaml as shipped (its ``label`` published as ``digit``) on the
    held-out rows build-models writes, alone and with --compare: the report's drift reads
    the prediction under its published name."""
    config = tmp_path / "configs" / "mlp-scoring.yaml"
    config.parent.mkdir()
    shutil.copyfile(REPO / "configs" / "mlp-scoring.yaml", config)
    assert yaml.safe_load(config.read_text())["model"]["outputs"]["label"] != "label"
    models = tmp_path / "models"
    models.mkdir()
    built = model_factory("digits_mlp")
    for suffix in ("", ".sha256", ".profile.json"):
        shutil.copyfile(f"{built}{suffix}", models / f"digits_mlp.onnx{suffix}")
    rows = write_validation("digits_mlp", models)
    assert rows is not None
    for extra in ((), ("--compare", str(built))):
        out = tmp_path / f"out{len(extra)}"
        report = _run(str(config), "--data", str(rows), "--out", str(out), *extra)
        assert len(report["models"]) == (2 if extra else 1)
        for m in report["models"]:
            assert m["kind"] == "classifier" and m["metrics"]["accuracy"] > 0.9
            assert m["drift"] is not None and m["drift"]["prediction"] < 0.1, m["drift"]
