"""``optimize --log-to-registry``: the report's files and every variant's numbers as an
MLflow run of the registry, read back here with MLflow's own client."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
import yaml
from typer.testing import CliRunner

from streaminfer.cli.commands import app
from streaminfer.pipelines.devtools.example_models import Dataset
from streaminfer.pipelines.lifecycle.registry import Registry
from tests.fixtures.registry import registry_section

from .conftest import rows_file


def test_the_report_is_logged_as_a_run(
    model_factory: Callable[[str], Path], dataset_factory: Callable[[str], Dataset],
    registry: Registry, tmp_path: Path,
) -> None:
    dataset = dataset_factory("breast_cancer")
    data = rows_file(dataset, tmp_path / "rows.parquet")
    config = tmp_path / "p.yaml"
    config.write_text(yaml.safe_dump({
        "name": "p", "source": {"topics": ["t"], "group_id": "g", "features": dataset.features},
        "model": {"path": str(model_factory("breast_cancer"))},
        "sink": {"predictions_topic": "o", "dead_letter_topic": "d"},
        "optimize": {"prune": [0.5], "sparsities": [0.5]},
        "registry": registry_section(registry)}))
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["optimize", str(config), "--data", str(data), "--out",
                                      str(out), "--rounds", "1", "--block-s", "0.02",
                                      "--log-to-registry"])
    assert result.exit_code == 0, result.output
    assert "logged to the registry as run" in result.output
    report = orjson.loads((out / "report.json").read_bytes())

    client = registry.client
    experiment = client.get_experiment_by_name(registry.experiment)
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_id in result.output
    tags = run.data.tags
    assert tags["streaminfer.kind"] == "optimize"
    assert tags["streaminfer.sha256"] == report["model_sha256"]
    assert tags["streaminfer.chosen"] == (report["chosen"] or "none")
    measured = 0
    for v in report["variants"]:
        for name, value in v["metrics"].items():
            if value is not None:
                assert run.data.metrics[f"{v['name']}.{name}"] == pytest.approx(value,
                                                                                 rel=1e-12)
                measured += 1
        if v["speedup"] is not None:
            assert run.data.metrics[f"{v['name']}.speedup"] == v["speedup"]
        if v["status"] == "skipped":
            assert not [k for k in run.data.metrics if k.startswith(f"{v['name']}.")]
    assert measured > 0
    names = sorted(a.path for a in client.list_artifacts(run.info.run_id, "optimize"))
    assert names == ["optimize/report.json", "optimize/report.png"]
    fetched = client.download_artifacts(run.info.run_id, "optimize/report.json",
                                        str(tmp_path / "fetched"))
    assert Path(fetched).read_bytes() == (out / "report.json").read_bytes()
