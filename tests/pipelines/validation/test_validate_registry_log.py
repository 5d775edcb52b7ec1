"""``validate --log-to-registry``: the report's files and metrics as an MLflow run of the
config's registry, read back here with MLflow's own client."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from streaminfer.cli.commands import app
from streaminfer.pipelines.devtools.example_models import Dataset
from streaminfer.pipelines.lifecycle.registry import Registry
from tests.fixtures.registry import registry_section

runner = CliRunner()


def test_the_report_is_logged_as_a_run(
    tmp_path: Path, registry: Registry, validation_config: Callable[..., Path],
    dataset_factory: Callable[[str], Dataset],
) -> None:
    data = dataset_factory("breast_cancer")
    pd.DataFrame(data.X[:200], columns=data.features).assign(label=data.y[:200]).to_csv(
        tmp_path / "rows.csv", index=False)
    config = validation_config("breast_cancer")
    args = ["validate", str(config), "--data", str(tmp_path / "rows.csv"), "--out",
            str(tmp_path / "out"), "--log-to-registry"]
    refused = runner.invoke(app, args)
    assert refused.exit_code != 0 and "no registry section" in str(refused.exception)

    spec = yaml.safe_load(config.read_text())
    spec["registry"] = registry_section(registry)
    config.write_text(yaml.safe_dump(spec))
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "logged to the registry as run" in result.output
    (model,) = orjson.loads((tmp_path / "out" / "report.json").read_bytes())["models"]

    client = registry.client
    experiment = client.get_experiment_by_name(registry.experiment)
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_id in result.output
    assert run.data.tags["streaminfer.kind"] == "validate"
    assert run.data.tags["streaminfer.sha256"] == model["sha256"]
    for name, value in model["metrics"].items():
        assert run.data.metrics[name] == pytest.approx(value, rel=1e-12)
        low, high = model["intervals"][name]
        assert run.data.metrics[f"{name}.low"] == pytest.approx(low, rel=1e-12)
        assert run.data.metrics[f"{name}.high"] == pytest.approx(high, rel=1e-12)
    names = sorted(a.path for a in client.list_artifacts(run.info.run_id, "validation"))
    assert names == ["validation/report.html", "validation/report.json"]
    fetched = client.download_artifacts(run.info.run_id, "validation/report.json",
                                        str(tmp_path / "fetched"))
    assert Path(fetched).read_bytes() == (tmp_path / "out" / "report.json").read_bytes()
