"""``streaminfer validate`` on a range of a training topic (labelled examples as the joiner
writes them, on the real embedded broker): exactly the rows in the range, numbers equal
scikit-learn's, and the metric over time per model version from the served outputs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import orjson
import pytest
from sklearn import metrics as skm
from typer.testing import CliRunner

from streaminfer.cli.commands import app
from streaminfer.pipelines.devtools.example_models import Dataset
from streaminfer.pipelines.kafka.embedded_broker import EmbeddedBroker

pytestmark = pytest.mark.integration

PER_PARTITION = 120
START, END = 15, 95


def test_topic_range(
    tmp_path: Path, broker: EmbeddedBroker, topic_factory: Callable[..., str],
    produce: Callable[..., None], validation_config: Callable[..., Path],
    dataset_factory: Callable[[str], Dataset], model_factory: Callable[[str], Path],
    onnx_outputs: Callable[..., list[np.ndarray]],
) -> None:
    data = dataset_factory("breast_cancer")
    topic = topic_factory(2, prefix="training")
    kept = fill_training_topic(topic, data, produce)
    config = validation_config("breast_cancer", bootstrap=broker.bootstrap_servers)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["validate", str(config), "--data",
                                      f"kafka:{topic}?start={START}&end={END}",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = orjson.loads((out / "report.json").read_bytes())
    (m,) = report["models"]

    X = np.array([k[0] for k in kept])
    y = np.array([k[1] for k in kept])
    _, proba = onnx_outputs(model_factory("breast_cancer"), X)
    predicted = np.argmax(proba, axis=1)
    assert report["data"]["rows"] == m["rows"] == 2 * (END - START)
    assert m["metrics"]["accuracy"] == pytest.approx(skm.accuracy_score(y, predicted), abs=1e-12)
    assert m["metrics"]["f1"] == pytest.approx(skm.f1_score(y, predicted), abs=1e-12)
    assert m["metrics"]["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba[:, 1]),
                                                    abs=1e-12)
    # Over time, per version, from what each version served: the rows-weighted mean of the
    # points is that version's accuracy.
    assert m["over_time_source"] == "served"
    for version in ("v1", "v2"):
        mine = [k for k in kept if k[2] == version]
        expected = skm.accuracy_score([k[1] for k in mine], [int(k[3] > 0.5) for k in mine])
        points = m["over_time"][version]
        assert sum(p["rows"] for p in points) == len(mine)
        weighted = sum(p["accuracy"] * p["rows"] for p in points) / len(mine)
        assert weighted == pytest.approx(expected, abs=1e-12)
    assert "metric over time" in (out / "report.html").read_text()

    # The whole topic, up to each partition's high watermark: every record, none missed.
    whole = CliRunner().invoke(app, ["validate", str(config), "--data", f"kafka:{topic}",
                                     "--out", str(tmp_path / "all")])
    assert whole.exit_code == 0, whole.output
    assert orjson.loads((tmp_path / "all" / "report.json").read_bytes())["data"]["rows"] \
        == 2 * PER_PARTITION


def fill_training_topic(topic: str, data: Dataset, produce: Callable[..., None],
                        ) -> list[tuple[np.ndarray, int, str, float]]:
    """PER_PARTITION labelled examples in each of 2 partitions (versions v1 then v2, served
    with a random P(1)); returns (row, label, version, P(1)) of those in START..END."""
    rng = np.random.default_rng(9)
    served = rng.uniform(0.05, 0.95, size=(2, PER_PARTITION))  # the live model's P(1)
    kept: list[tuple[np.ndarray, int, str, float]] = []
    for partition in (0, 1):
        values: list[bytes | None] = []
        for offset in range(PER_PARTITION):
            i = (partition * PER_PARTITION + offset * 7) % len(data.X)
            version = "v1" if offset < 60 else "v2"
            p1 = float(served[partition, offset])
            values.append(orjson.dumps({
                "id": f"e{partition}-{offset}",
                "features": dict(zip(data.features, data.X[i].tolist(), strict=True)),
                "label": int(data.y[i]), "outputs": {"label": int(p1 > 0.5),
                                                     "probabilities": [1 - p1, p1]},
                "model": "breast-cancer", "model_version": version,
                "predicted_at": 1_700_000_000_000 + offset * 1000,
                "labelled_at": 1_700_000_060_000 + offset * 1000, "label_delay_ms": 60_000}))
            if START <= offset < END:
                kept.append((data.X[i], int(data.y[i]), version, p1))
        produce(topic, values, partition=partition)
    return kept
