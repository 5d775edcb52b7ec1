"""``streaminfer validate`` marks the rollout moments on its timeline: alerts published to the
config's alerts topic on the real embedded broker (by the pipeline's own publisher), read over
the data's time span, beside the first and last row of each version; ``--alerts`` names
another topic or a file instead."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from typer.testing import CliRunner

from streaminfer.cli.commands import app
from streaminfer.operators.alerts import alert
from streaminfer.pipelines.devtools.example_models import Dataset
from streaminfer.pipelines.kafka.alert_publisher import AlertPublisher
from streaminfer.pipelines.kafka.embedded_broker import EmbeddedBroker
from streaminfer.pipelines.lifecycle.registry import Lineage, Registry
from tests.fixtures.registry import registry_section

pytestmark = pytest.mark.integration

T0 = 1_764_000_000_000  # the first prediction (epoch ms)
ROWS, SWITCH = 100, 60  # rows 0..59 served by version 1, 60..99 by version 2, one a second


def test_moments_from_the_alerts_topic_and_the_data(
    tmp_path: Path, broker: EmbeddedBroker, kafka_config: dict[str, Any],
    topic_factory: Callable[..., str], produce: Callable[..., None],
    validation_config: Callable[..., Path], dataset_factory: Callable[[str], Dataset],
) -> None:
    data = dataset_factory("breast_cancer")
    training = topic_factory(1, prefix="training")
    produce(training, examples(data))
    alerts_topic = topic_factory(1, prefix="alerts")
    publisher = AlertPublisher(kafka_config, alerts_topic)
    for kind, version, at_s, message in [
        ("promote", "1", -60, "before the data: left out"),
        ("drift", "1", 20, "feature 'mean_texture' drifted"),
        ("drift", "1", 21, "feature 'worst_area' drifted"),
        ("retrain", "1", 30, "live accuracy 0.82 is below 0.9"),
        ("candidate", "2", 40, "version 2 registered; gate passed"),
        ("shadow", "2", 45, "version 2 shadows version 1"),
        ("promote", "2", 59.5, "version 2 beat version 1 over 500 examples"),
        ("swap", "2", 59.6, "every worker serves version 2"),
        ("promote", "3", 70, "another model's version"),
    ]:
        model = "other" if version == "3" else "breast-cancer"
        publisher.publish(alert(kind, model, version, "accuracy", 0.9, 0.8, "500 examples",
                                int(T0 + at_s * 1000), message))
    publisher.close()
    produce(alerts_topic, [b"not an alert"])
    config = with_alerts_topic(validation_config("breast_cancer",
                                                 bootstrap=broker.bootstrap_servers),
                               alerts_topic)

    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["validate", str(config), "--data", f"kafka:{training}",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    timeline = orjson.loads((out / "report.json").read_bytes())["timeline"]
    assert timeline["alerts_from"] == [f"kafka:{alerts_topic}"]
    assert timeline["alerts_read"] == 9
    labels = [m["label"] for m in timeline["moments"]]
    assert labels == ["v1 first served", "drift v1", "retrain", "v2 passed the gate",
                      "shadow v2", "v1 last served", "v2 promoted", "v2 serving",
                      "v2 first served", "v2 last served"]
    times = {m["label"]: m["ts"] - T0 for m in timeline["moments"]}
    assert times == {"v1 first served": 0, "drift v1": 20_000, "retrain": 30_000,
                     "v2 passed the gate": 40_000, "shadow v2": 45_000,
                     "v1 last served": 59_000, "v2 promoted": 59_500, "v2 serving": 59_600,
                     "v2 first served": 60_000, "v2 last served": 99_000}
    assert "v2 promoted" in result.output and "rollout moments" in (
        out / "report.html").read_text()

    # --alerts names another topic: its alerts only (the config's topic is not read).
    other = topic_factory(1, prefix="alerts")
    produce(other, [orjson.dumps(alert("rollback", "breast-cancer", "2", "accuracy", 0.5, 0.9,
                                       "200+ examples", T0 + 80_000, "rolled back"))])
    again = CliRunner().invoke(app, ["validate", str(config), "--data", f"kafka:{training}",
                                     "--alerts", f"kafka:{other}", "--out", str(tmp_path / "b")])
    assert again.exit_code == 0, again.output
    marked = orjson.loads((tmp_path / "b" / "report.json").read_bytes())["timeline"]
    assert [m["label"] for m in marked["moments"] if m["source"] == "alerts"] == [
        "v2 rolled back"]


def test_alerts_from_a_file_and_a_missing_file(
    tmp_path: Path, broker: EmbeddedBroker, topic_factory: Callable[..., str],
    produce: Callable[..., None], validation_config: Callable[..., Path],
    dataset_factory: Callable[[str], Dataset],
) -> None:
    training = topic_factory(1, prefix="training")
    produce(training, examples(dataset_factory("breast_cancer")))
    config = validation_config("breast_cancer", bootstrap=broker.bootstrap_servers)
    alerts = tmp_path / "alerts.jsonl"
    alerts.write_bytes(orjson.dumps(alert("promote", "breast-cancer", "2", "accuracy", 0.97,
                                          0.8, "500 examples", T0 + 59_000, "promoted"))
                       + b"\n\n")
    result = CliRunner().invoke(app, ["validate", str(config), "--data", f"kafka:{training}",
                                      "--alerts", str(alerts), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    timeline = orjson.loads((tmp_path / "o" / "report.json").read_bytes())["timeline"]
    assert [m["label"] for m in timeline["moments"] if m["source"] == "alerts"] == [
        "v2 promoted"]
    missing = CliRunner().invoke(app, ["validate", str(config), "--data", f"kafka:{training}",
                                       "--alerts", str(tmp_path / "nope.jsonl"),
                                       "--out", str(tmp_path / "p")])
    assert missing.exit_code != 0 and "no such file" in str(missing.exception)


def examples(data: Dataset) -> list[bytes | None]:
    """ROWS labelled examples a second apart, SWITCH of them served by version 1."""
    values: list[bytes | None] = []
    for i in range(ROWS):
        row = i % len(data.X)
        p1 = 0.9 if data.y[row] == 1 else 0.1
        values.append(orjson.dumps({
            "id": f"e{i}", "features": dict(zip(data.features, data.X[row].tolist(),
                                                strict=True)),
            "label": int(data.y[row]), "outputs": {"label": int(p1 > 0.5),
                                                   "probabilities": [1 - p1, p1]},
            "model": "breast-cancer", "model_version": "1" if i < SWITCH else "2",
            "predicted_at": T0 + i * 1000, "labelled_at": T0 + i * 1000 + 500,
            "label_delay_ms": 500}))
    return values


def with_alerts_topic(config: Path, topic: str) -> Path:
    """The YAML with ``rollout.alerts_topic`` set."""
    data = yaml.safe_load(config.read_text())
    data["rollout"] = {"alerts_topic": topic}
    config.write_text(yaml.safe_dump(data))
    return config


def test_a_config_on_models_alias_validates_the_version_it_names_now(
    tmp_path: Path, broker: EmbeddedBroker, registry: Registry, topic_factory: Callable[..., str],
    produce: Callable[..., None], validation_config: Callable[..., Path],
    dataset_factory: Callable[[str], Dataset], model_factory: Callable[[str], Path],
    train_onnx: Callable[..., Path],
) -> None:
    data = dataset_factory("breast_cancer")
    training = topic_factory(1, prefix="training")
    produce(training, examples(data))
    registry.register_model("bc", train_onnx(data.X[::2], data.y[::2], "half"), metrics={},
                            lineage=Lineage("import"))
    promoted = registry.register_model("bc", model_factory("breast_cancer"), metrics={},
                                       lineage=Lineage("import"))
    registry.set_alias("bc", "champion", promoted.version)
    config = validation_config("breast_cancer", bootstrap=broker.bootstrap_servers)
    yaml_data = yaml.safe_load(config.read_text())
    yaml_data["model"]["path"] = "models:/bc@champion"
    yaml_data["registry"] = registry_section(registry)
    config.write_text(yaml.safe_dump(yaml_data))
    result = CliRunner().invoke(app, ["validate", str(config), "--data", f"kafka:{training}",
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    (model,) = orjson.loads((tmp_path / "out" / "report.json").read_bytes())["models"]
    assert model["version"] == promoted.version == "2"
    assert model["sha256"] == promoted.sha256
