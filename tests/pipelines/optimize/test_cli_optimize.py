"""``streaminfer optimize`` from the command line: features from the file or a pipeline
YAML, the table and the files, and one-line errors for bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import yaml

from streaminfer.pipelines.devtools.example_models import Dataset
from streaminfer.pipelines.lifecycle.registry import Registry
from tests.fixtures.cli import streaminfer_here

from .conftest import rows_file

REPO = Path(__file__).resolve().parents[3]


def streaminfer(*args: object) -> subprocess.CompletedProcess[str]:
    """Through the entry point in this process (``main`` makes the lines and exit codes): a
    real ``streaminfer optimize`` process runs in the docs' shell blocks (tests/docs)."""
    return streaminfer_here(*args, cwd=REPO)


def test_optimize_a_linear_model_with_features_from_a_pipeline_yaml(
    model_factory: Callable[[str], Path], dataset_factory: Callable[[str], Dataset],
    tmp_path: Path, empty_registry_db: Path,
) -> None:
    shutil.copyfile(empty_registry_db, tmp_path / "mlflow.db")  # migrated once per session
    dataset = dataset_factory("breast_cancer")
    reordered = Dataset(dataset.features[::-1], dataset.X[:, ::-1], dataset.y)  # file order
    data = rows_file(reordered, tmp_path / "rows.parquet")  # differs from the model's
    config = tmp_path / "p.yaml"
    config.write_text(yaml.safe_dump({
        "name": "p", "source": {"topics": ["t"], "group_id": "g", "features": dataset.features},
        "model": {"path": str(model_factory("breast_cancer"))},
        "sink": {"predictions_topic": "o", "dead_letter_topic": "d"},
        "batching": {"max_size": 64}, "optimize": {"max_loss": 0.02, "prune": [0.3]},
        "registry": {"tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
                     "cache_dir": str(tmp_path / "cache")}}))
    out = tmp_path / "out"
    result = streaminfer("optimize", model_factory("breast_cancer"), "--data", data,
                         "--out", out, "--config", config, "--rounds", "1", "--block-s", "0.02",
                         "--register")
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["rows"] == len(dataset.y)
    assert report["max_loss"] == 0.02  # from the YAML's optimize section
    assert [v["name"] for v in report["variants"] if v["technique"] == "structured-pruning"] == [
        "structured-30"]
    original = report["variants"][0]
    assert original["metrics"]["accuracy"] > 0.95  # the right feature order
    assert set(original["speed"]["cpu"]["rows_per_s"]) == {"64", "256"}  # max_size and 256
    assert "graph-basic" in result.stdout and "int8-dynamic: skipped" in result.stdout
    assert (out / "report.png").is_file()
    stored = Registry(f"sqlite:///{tmp_path / 'mlflow.db'}")  # the YAML's registry section
    assert stored.names() == (["breast_cancer"] if report["registered"] else [])


def test_bad_input_is_one_line(model_factory: Callable[[str], Path], tmp_path: Path) -> None:
    model = model_factory("breast_cancer")
    missing = streaminfer("optimize", model, "--data", tmp_path / "none.csv", "--out", tmp_path)
    assert missing.returncode == 2 and missing.stderr.strip().count("\n") == 0
    assert "no such file" in missing.stderr
    (tmp_path / "rows.csv").write_text("a,b\n1,2\n")
    no_label = streaminfer("optimize", model, "--data", tmp_path / "rows.csv", "--out", tmp_path)
    assert no_label.returncode == 2 and "no label column 'label'" in no_label.stderr
    for name in ("--label-field", "--label"):  # the old name still works
        named = streaminfer("optimize", model, "--data", tmp_path / "rows.csv", "--out",
                            tmp_path, name, "y")
        assert named.returncode == 2 and "no label column 'y'" in named.stderr, named.stderr
    (tmp_path / "rows.csv").write_text("a,label\n1,0\n")
    levels = streaminfer("optimize", model, "--data", tmp_path / "rows.csv", "--out", tmp_path,
                         "--prune", "0.5,1.5")
    assert levels.returncode == 2 and "--prune" in levels.stderr
