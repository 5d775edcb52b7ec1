"""Optimization runs shared by this folder's tests (each run once per session: they train
and time real models)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest
from pyarrow import parquet

from streaminfer.operators.labelled_rows import LabelledRows, labelled_rows, read_table
from streaminfer.pipelines.devtools.example_models import Dataset, write_validation
from streaminfer.pipelines.optimize.run import Report, Settings, optimize
from tests.fixtures.models import models_locked

QUICK = {"rounds": 1, "block_s": 0.02}


def rows_file(dataset: Dataset, path: Path) -> Path:
    columns = {f: dataset.X[:, i] for i, f in enumerate(dataset.features)}
    parquet.write_table(pa.table({**columns, "label": dataset.y}), path)
    return path


def read_rows(path: Path, features: list[str]) -> LabelledRows:
    return labelled_rows(read_table(path), features, "label", where=str(path))


@pytest.fixture(scope="session")
def digits_run(model_factory: Callable[[str], Path], model_dir: Path,
               tmp_path_factory: pytest.TempPathFactory) -> tuple[Report, Path, LabelledRows]:
    """Every technique on the digits MLP, judged on its held-out rows; structured-95 is
    there to be destroyed."""
    model = model_factory("digits_mlp")
    with models_locked(model_dir):
        data = write_validation("digits_mlp", model_dir)
    assert data is not None
    rows = read_rows(data, [c for c in read_table(data).column_names if c != "label"])
    settings = Settings(fractions=(0.25, 0.95), sparsities=(0.5,), **QUICK)
    out = tmp_path_factory.mktemp("optimize-digits")
    return optimize(model, rows, out, data_name=str(data), settings=settings), out, rows


@pytest.fixture(scope="session")
def linear_run(model_factory: Callable[[str], Path], dataset_factory: Callable[[str], Dataset],
               tmp_path_factory: pytest.TempPathFactory) -> tuple[Report, Path, LabelledRows]:
    """Every technique on the breast-cancer logistic regression (ai.onnx.ml operators)."""
    model = model_factory("breast_cancer")
    dataset = dataset_factory("breast_cancer")
    out = tmp_path_factory.mktemp("optimize-linear")
    rows = read_rows(rows_file(dataset, out / "rows.parquet"), dataset.features)
    return optimize(model, rows, out / "variants", settings=Settings(**QUICK)), out, rows
