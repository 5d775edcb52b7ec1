"""``streaminfer models`` and ``streaminfer retrain`` as a user runs them (``retrain`` a real
process, the rest through the same entry point in this process; the docs' shell blocks run
``streaminfer models`` as real processes, docs/rollout.md; a real SQLite store, models
trained from a shipped dataset)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from rich.console import Console

from streaminfer.cli.models import versions_table
from streaminfer.pipelines.devtools.example_models import Dataset
from streaminfer.pipelines.lifecycle.registry import Lineage, Registry
from tests.fixtures.cli import (
    models_table_rows,
    one_clear_error,
    streaminfer,
    streaminfer_here,
)

from .conftest import labelled_examples

pytestmark = pytest.mark.integration
TrainOnnx = Callable[[np.ndarray, np.ndarray, str], Path]


def pipeline_yaml(folder: Path, registry: Registry, **sections: Any) -> Path:
    data = {
        "name": "scorer", "kafka": {"bootstrap_servers": "127.0.0.1:9"},
        "source": {"topics": ["events"], "group_id": "g", "features": ["a"]},
        "model": {"path": "models:/bc@champion"},
        "sink": {"predictions_topic": "preds", "dead_letter_topic": "dlq"},
        "registry": {"tracking_uri": registry.uri}, **sections,
    }
    path = folder / "pipeline.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_models_list_promote_rollback_and_register(
    registry: Registry, train_onnx: TrainOnnx, dataset_factory: Callable[[str], Dataset],
    tmp_path: Path,
) -> None:
    data = dataset_factory("breast_cancer")
    onnx = train_onnx(data.X, data.y, "bc")
    for tags in ({}, {"gate": "rejected", "gate_reason": "roc_auc fell"}, {"gate": "passed"}):
        registry.register_model("bc", onnx, metrics={"roc_auc": 0.987654},
                                lineage=Lineage("retrain", "1"), tags=tags)
    registry.set_alias("bc", "champion", "1")
    registry.set_alias("bc", "challenger", "3")
    uri = ("--tracking-uri", registry.uri)

    listed = streaminfer_here("models", "list", "bc", *uri, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    rows = models_table_rows(listed.stdout)
    assert sorted(rows) == ["1", "2", "3"]
    assert rows["1"]["aliases"] == "champion" and rows["3"]["aliases"] == "challenger"
    assert rows["2"]["gate"] == "rejected: roc_auc fell", rows["2"]
    assert rows["2"]["metrics"] == "roc_auc 0.9877" and rows["2"]["made by"] == "retrain from v1"
    everything = streaminfer_here("models", "list", *uri, cwd=tmp_path)
    assert everything.stdout.strip() == "bc: challenger=v3, champion=v1"
    narrow = Console(width=80, record=True, file=io.StringIO())
    narrow.print(versions_table(registry, "bc"))
    shown = narrow.export_text()
    assert "…" not in shown and max(map(len, shown.splitlines())) <= 80, shown
    shown_rows = models_table_rows(shown)
    assert shown_rows["3"]["sha256"] == registry.resolve("bc", "3").sha256[:12], shown
    assert shown_rows["3"]["created"].endswith(" UTC"), shown  # whole, not cut
    as_json = json.loads(streaminfer_here("models", "list", "bc", "--json", *uri,
                                          cwd=tmp_path).stdout)
    assert [(v["version"], v["aliases"], v["gate"]) for v in as_json["versions"]] == [
        ("3", ["challenger"], "passed"), ("2", [], "rejected"), ("1", ["champion"], None)]
    assert as_json["versions"][1]["gate_reason"] == "roc_auc fell"
    assert as_json["versions"][0]["metrics"] == {"roc_auc": 0.987654}
    assert as_json["versions"][0]["sha256"] == registry.resolve("bc", "3").sha256
    assert json.loads(streaminfer_here("models", "list", "--json", *uri, cwd=tmp_path).stdout)[
        "models"] == [{"name": "bc", "aliases": {"challenger": "3", "champion": "1"}}]

    promoted = streaminfer_here("models", "promote", "bc", *uri, cwd=tmp_path)
    assert promoted.stdout.strip() == "bc: champion -> v3, previous -> v1, challenger removed"
    assert registry.aliases("bc") == {"champion": "3", "previous": "1"}
    rejected = one_clear_error(streaminfer_here("models", "promote", "bc", "--version", "2", *uri,
                                           cwd=tmp_path))
    assert "models:/bc/2 was rejected by the gate (roc_auc fell); pass --force" in rejected

    config = pipeline_yaml(tmp_path, registry)
    rolled = streaminfer_here("models", "rollback", "--config", config, cwd=tmp_path)
    assert rolled.stdout.strip() == "bc: champion -> v1, previous removed"
    assert registry.aliases("bc") == {"champion": "1"}
    again = one_clear_error(streaminfer_here("models", "rollback", "bc", *uri, cwd=tmp_path))
    assert "no previous champion to roll back to" in again

    added = streaminfer_here("models", "register", "other", onnx, "--alias", "champion", *uri,
                        cwd=tmp_path)
    assert added.stdout.startswith("registered models:/other/1 (sha256 "), added.stderr
    assert registry.resolve("other", "champion").version == "1"


def test_retrain_from_files_registers_a_challenger(
    registry: Registry, dataset_factory: Callable[[str], Dataset], tmp_path: Path,
) -> None:
    data = dataset_factory("breast_cancer")
    rows = np.random.default_rng(5).permutation(len(data.y))
    examples = tmp_path / "examples.jsonl"
    examples.write_bytes(b"\n".join(labelled_examples(data, rows)) + b"\n")
    retrain = {"estimator": {"class_path": "sklearn.linear_model.LogisticRegression",
                             "params": {"max_iter": 1000}, "standardize": True},
               "source": {"files": ["examples.jsonl"]},
               "gate": [{"metric": "accuracy", "min": 0.9}]}
    source = {"topics": ["events"], "group_id": "g", "features": list(data.features)}
    config = pipeline_yaml(tmp_path, registry, retrain=retrain, source=source)

    done = streaminfer("retrain", config, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "gate passed: models:/bc/1 is challenger" in done.stdout
    assert f"holdout: 114 newest of {len(rows)} examples" in done.stdout
    version = registry.resolve("bc", "challenger")
    assert version.data_range == {"files": [str(examples)]}
    registry.promote("bc")
    checked = streaminfer_here("validate-config", config, cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "model bc v1: input X [batch, 30] float32" in " ".join(checked.stdout.split())

    too_few = pipeline_yaml(tmp_path, registry, source=source,
                            retrain={**retrain, "min_examples": 1000})
    message = one_clear_error(streaminfer_here("retrain", too_few, cwd=tmp_path))
    assert f"{len(rows)} labelled example(s), fewer than retrain.min_examples=1000" in message

    one_class = tmp_path / "one-class.jsonl"
    negatives = rows[data.y[rows] == 0]
    one_class.write_bytes(b"\n".join(labelled_examples(data, negatives)) + b"\n")
    single = pipeline_yaml(tmp_path, registry, source=source,
                           retrain={**retrain, "source": {"files": [str(one_class)]}})
    message = one_clear_error(streaminfer_here("retrain", single, cwd=tmp_path))
    assert "only one class (0) among" in message and "training examples" in message
    assert [v.version for v in registry.versions("bc")] == ["1"]


def test_a_version_whose_artifact_changed_gets_no_role(
    registry: Registry, train_onnx: TrainOnnx, dataset_factory: Callable[[str], Dataset],
    tmp_path: Path,
) -> None:
    data = dataset_factory("breast_cancer")
    onnx = train_onnx(data.X, data.y, "bc")
    registry.register_model("bc", onnx, metrics={}, lineage=Lineage("import"))
    changed = registry.register_model("bc", onnx, metrics={}, lineage=Lineage("retrain", "1"))
    registry.set_alias("bc", "champion", "1")
    registry.set_alias("bc", "challenger", "2")
    stored = Path(changed.source.removeprefix("file://")) / "model.onnx"
    stored.write_bytes(stored.read_bytes() + b"\0")
    uri = ("--tracking-uri", registry.uri)

    for move in (("promote",), ("shadow",), ("canary", "--share", "0.2")):
        message = one_clear_error(streaminfer_here("models", *move, "bc", *uri, cwd=tmp_path))
        assert ("models:/bc/2: the stored model.onnx has sha256 " in message
                and f"but the registry recorded {changed.sha256}" in message), message
        assert registry.aliases("bc") == {"champion": "1", "challenger": "2"}, move
    assert "canary_share" not in registry.resolve("bc", "2").tags
    registry.register_model("bc", onnx, metrics={}, lineage=Lineage("retrain", "1"))
    intact = streaminfer_here("models", "promote", "bc", "--version", "3", *uri, cwd=tmp_path)
    assert intact.stdout.strip() == "bc: champion -> v3, previous -> v1", intact.stderr
    assert "Downloading artifacts" not in intact.stderr  # MLflow's bar for the digest check
    registry.set_alias("bc", "previous", "2")
    back = one_clear_error(streaminfer_here("models", "rollback", "bc", *uri, cwd=tmp_path))
    assert "models:/bc/2: the stored model.onnx has sha256 " in back
    assert registry.aliases("bc") == {"champion": "3", "previous": "2", "challenger": "2"}


@pytest.mark.parametrize("command", [("list",), ("promote", "bc"), ("rollback", "bc"),
                                     ("shadow", "bc", "--stop")])
def test_reading_a_registry_that_is_not_there_creates_none(
    command: tuple[str, ...], tmp_path: Path,
) -> None:
    message = one_clear_error(streaminfer_here("models", *command, cwd=tmp_path))
    assert (f"no registry at {tmp_path / 'mlflow.db'} (sqlite:///mlflow.db)" in message
            and "--config PIPELINE.yaml, --tracking-uri or MLFLOW_TRACKING_URI" in message), message
    assert list(tmp_path.iterdir()) == []

