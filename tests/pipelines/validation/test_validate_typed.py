"""``streaminfer validate`` with a model fed by ``model.inputs`` (strings beside numbers, the
fraud_mixed example as configs/fraud-mixed.yaml maps it): each row fed as the event it stands
for, labels given as the config's class names, the rows the inputs refuse counted by reason
and left out; the numbers equal scikit-learn's on ONNX Runtime outputs fed by arrays built
here."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import orjson
import pytest
import yaml
from sklearn import metrics as skm
from typer.testing import CliRunner

from streaminfer.cli.commands import app
from streaminfer.errors import DataError
from streaminfer.pipelines.devtools.example_models import Dataset

REPO = Path(__file__).resolve().parents[3]
STRINGS = ("country", "category", "channel")
NUMBERS = ("amount", "hour", "card_age_days")


def _config(tmp_path: Path, model: Path) -> Path:
    mapped = yaml.safe_load((REPO / "configs" / "fraud-mixed.yaml").read_text())["model"]
    data: dict[str, Any] = {
        "name": "validation", "kafka": {"bootstrap_servers": "127.0.0.1:9"},
        "source": {"topics": ["events"], "group_id": "g"},
        "model": {"path": str(model), "name": "fraud-mixed",
                  **{key: mapped[key] for key in ("inputs", "outputs", "postprocess")}},
        "sink": {"predictions_topic": "p", "dead_letter_topic": "d"},
    }
    path = tmp_path / "mixed.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _probabilities(model: Path, rows: list[dict[str, Any]]) -> np.ndarray:
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    feed = {name: np.array([[row[name]] for row in rows], dtype=object) for name in STRINGS}
    feed |= {name: np.array([[row.get(name, 12)] for row in rows], dtype=np.float32)
             for name in NUMBERS}
    _, probabilities = session.run(["label", "probabilities"], feed)
    return np.asarray(probabilities)


def test_string_inputs_and_class_name_labels_are_validated_and_refusals_counted(
    tmp_path: Path, model_factory: Callable[[str], Path],
    dataset_factory: Callable[[str], Dataset],
) -> None:
    model = model_factory("fraud_mixed")
    data = dataset_factory("fraud_mixed")
    classes = ("legit", "fraud")
    rows = [{**dict(zip(data.features, data.X[i].tolist(), strict=True)),
             "label": classes[int(data.y[i])]} for i in range(400)]
    del rows[0]["hour"]  # the config's default, 12
    bad = [{**rows[1], "country": 7}, {**rows[2], "amount": "12.5"},
           {k: v for k, v in rows[3].items() if k != "card_age_days"}]
    path = tmp_path / "labelled.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(r) for r in rows + bad) + b"\n")

    result = CliRunner().invoke(app, ["validate", str(_config(tmp_path, model)), "--data",
                                      str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    report = orjson.loads((tmp_path / "out" / "report.json").read_bytes())
    (got,) = report["models"]
    assert got["refused"] == {"wrong_input_type": 2, "missing_feature": 1}
    assert got["rows"] == len(rows) and got["class_names"] == list(classes)

    y = np.array([classes.index(r["label"]) for r in rows])
    proba = _probabilities(model, rows)
    predicted = np.argmax(proba, axis=1)
    assert 0 < y.sum() < len(y)
    assert got["metrics"]["accuracy"] == pytest.approx(skm.accuracy_score(y, predicted),
                                                       abs=1e-12)
    assert got["metrics"]["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba[:, 1]),
                                                      abs=1e-6)
    assert got["confusion_matrix"] == skm.confusion_matrix(y, predicted).tolist()
    # Rows from the training data do not drift from the model's per-input profile.
    assert set(got["drift"]) == {*STRINGS, *NUMBERS, "prediction"}
    assert max(got["drift"].values()) < 0.2, got["drift"]
    html = (tmp_path / "out" / "report.html").read_text()
    assert "3 rows refused by the model's inputs" in html and "1 = fraud" in html


def test_a_label_that_is_no_class_name_is_one_clear_error(
    tmp_path: Path, model_factory: Callable[[str], Path],
    dataset_factory: Callable[[str], Dataset],
) -> None:
    model = model_factory("fraud_mixed")
    data = dataset_factory("fraud_mixed")
    rows = [{**dict(zip(data.features, data.X[i].tolist(), strict=True)),
             "label": "legit" if i else "fruad"} for i in range(20)]
    path = tmp_path / "labelled.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(r) for r in rows) + b"\n")
    result = CliRunner().invoke(app, ["validate", str(_config(tmp_path, model)), "--data",
                                      str(path), "--out", str(tmp_path / "out")])
    assert isinstance(result.exception, DataError)
    assert str(result.exception).startswith(
        "labels 'fruad' are not among the model's classes (legit, fraud")
