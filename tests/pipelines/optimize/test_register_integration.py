"""A registered model optimized by reference: ``streaminfer optimize models:/NAME@champion
--register`` makes a new version with its lineage, ``models list`` shows it, it is promoted
like any candidate, and a real pipeline serves it by ``models:/NAME/VERSION``. The commands
run through the CLI's entry point in this process (test_cli_optimize.py and the training
CLI tests run them as real processes)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import yaml

from streaminfer.operators.labelled_rows import read_table
from streaminfer.operators.model_runner import OnnxModel
from streaminfer.operators.profile import profile_path
from streaminfer.operators.records import Record
from streaminfer.pipelines.devtools.example_models import Dataset, write_validation
from streaminfer.pipelines.lifecycle.registry import Lineage, Registry
from tests.fixtures.cli import models_table_rows, streaminfer_here
from tests.fixtures.models import models_locked

from .conftest import read_rows

pytestmark = [pytest.mark.integration,
              pytest.mark.filterwarnings("ignore:The y_prob values do not sum to one")]


def registry_section(registry: Registry) -> dict[str, Any]:
    return {"tracking_uri": registry.uri, "cache_dir": str(registry.cache_dir)}


def optimize_champion(registry: Registry, model: Path, features: list[str], data: Path,
                      tmp_path: Path) -> tuple[dict[str, Any], str]:
    """Register ``model`` as digits v1 (champion), optimize models:/digits@champion with
    --register, the registry taken from the YAML; the report and the command's output."""
    registry.register_model("digits", model, metrics={}, lineage=Lineage("import"),
                            profile_path=profile_path(model))
    registry.set_alias("digits", "champion", "1")
    config = tmp_path / "p.yaml"
    config.write_text(yaml.safe_dump({
        "name": "p", "source": {"topics": ["t"], "group_id": "g", "features": features},
        "model": {"path": "models:/digits@champion"},
        "sink": {"predictions_topic": "o", "dead_letter_topic": "d"},
        "registry": registry_section(registry)}))
    out = tmp_path / "out"
    result = streaminfer_here("optimize", "models:/digits@champion", "--data", data, "--out",
                              out, "--config", config, "--rounds", "2", "--block-s", "0.02",
                              "--register",
                              "--prune", "0.25", "--sparsities", "0.5", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return json.loads((out / "report.json").read_text()), result.stdout


def test_an_optimized_registry_version_is_registered_listed_promoted_and_served(
    registry: Registry, model_factory: Callable[[str], Path], model_dir: Path,
    tmp_path: Path, pipeline_factory: Callable[..., Any],
    make_events: Callable[..., tuple[list[bytes], list[bytes]]],
    produce: Callable[..., None], read_topic: Callable[..., list[Record]],
) -> None:
    model = model_factory("digits_mlp")
    with models_locked(model_dir):
        data = write_validation("digits_mlp", model_dir)
    assert data is not None
    rows = read_rows(data, [c for c in read_table(data).column_names if c != "label"])
    report, stdout = optimize_champion(registry, model, list(rows.features), data, tmp_path)
    # int8 is about twice as fast as the original here: some variant is chosen
    assert report["chosen"] is not None, stdout
    assert report["model"] == "models:/digits@champion"
    assert report["registered"] == "models:/digits/2" and "models:/digits/2" in stdout
    chosen = next(v for v in report["variants"] if v["name"] == report["chosen"])

    version = registry.resolve("digits", "2")
    assert version.sha256 == chosen["sha256"] and version.aliases == ("challenger",)
    assert version.tags["produced_by"] == "optimize" and version.tags["parent_version"] == "1"
    assert version.tags["parent_model"] == "digits"
    assert version.tags["parent_sha256"] == report["model_sha256"]
    assert version.tags["technique"] == chosen["technique"]
    assert json.loads(version.tags["settings"]) == chosen["settings"]
    metrics = registry.metrics(version)
    assert metrics["accuracy"] == chosen["metrics"]["accuracy"]
    assert (metrics["agreement"], metrics["speedup"]) == (chosen["agreement"],
                                                         chosen["speedup"])
    assert metrics["cpu.rows_per_s.b256"] == chosen["speed"]["cpu"]["rows_per_s"]["256"]

    listed = streaminfer_here("models", "list", "digits", "--tracking-uri", registry.uri,
                              cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    rows_shown = {version: [row["aliases"], row["made by"]]
                  for version, row in models_table_rows(listed.stdout).items()}
    assert rows_shown == {"1": ["champion", "import"],
                          "2": ["challenger", "optimize from v1"]}, listed.stdout
    everything = streaminfer_here("models", "list", "--tracking-uri", registry.uri,
                                  cwd=tmp_path)
    assert everything.stdout.strip() == "digits: challenger=v2, champion=v1"

    registry.promote("digits")  # a registered variant rolls out like any candidate
    assert registry.aliases("digits") == {"champion": "2", "previous": "1"}

    count = len(rows.y)
    running = pipeline_factory(model="digits_mlp", partitions=2,
                               model_options={"path": "models:/digits/2"},
                               registry=registry_section(registry))
    keys, values = make_events(Dataset(list(rows.features), rows.X, rows.y), count)
    produce(running.source_topic, values, keys)
    records = read_topic(running.predictions_topic, count, timeout_s=120)
    predictions = {p["id"]: p for p in (orjson.loads(r.value) for r in records)}
    assert sorted(predictions) == sorted(f"e{i}" for i in range(count))  # each exactly once
    assert {(p["model"], p["model_version"]) for p in predictions.values()} == {("digits", "2")}
    original = OnnxModel.load(model).predict_rows(rows.X.astype(np.float32))
    same = np.mean([predictions[f"e{i}"]["label"] == original[i]["label"]
                    for i in range(count)])
    # dynamic int8 quantizes each micro-batch on its own ranges: a row or two may move
    assert same >= chosen["agreement"] - 0.01
