"""A batch job whose YAML names models:/NAME@ALIAS scores with the version the alias names,
resolved once in the driver, as `streaminfer run` does; a job resumed after the alias moved
is refused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from streaminfer.errors import ConfigError, RegistryError
from streaminfer.operators.model_runner import OnnxModel
from streaminfer.pipelines.batch.job import batch
from streaminfer.pipelines.lifecycle.registry import Lineage, Registry
from tests.fixtures.registry import registry_section
from tests.pipelines.batch.conftest import (
    dataset_rows,
    predictions_in,
    with_batch,
    write_parquet,
)

pytestmark = pytest.mark.integration
ROWS = 300


def test_a_batch_job_scores_with_the_version_an_alias_names(
    ray_session: None, registry: Registry, model_factory: Callable[[str], Path],
    pipeline_spec_factory, dataset_factory, tmp_path: Path,
) -> None:
    onnx = model_factory("breast_cancer")
    registry.register_model("bc", onnx, metrics={}, lineage=Lineage("import"))
    registry.register_model("bc", onnx, metrics={}, lineage=Lineage("import"))
    registry.set_alias("bc", "champion", "2")
    dataset = dataset_factory("breast_cancer")
    source = write_parquet(tmp_path / "in.parquet", dataset_rows(dataset, ROWS))
    by_alias = with_batch(pipeline_spec_factory(
        model_options={"path": "models:/bc@champion"}, registry=registry_section(registry)),
        unit_rows=100)

    summary = batch(by_alias, str(source), str(tmp_path / "alias"))

    assert (summary.rows, summary.predictions, summary.complete) == (ROWS, ROWS, True)
    scored = {p["id"]: p for p in predictions_in(tmp_path / "alias")}
    assert {(p["model"], p["model_version"]) for p in scored.values()} == {("bc", "2")}
    # The file's own answers (offline ONNX Runtime), row by row.
    rows = dataset.X[np.arange(ROWS) % len(dataset.X)].astype(np.float32)
    assert scored.keys() == {f"e{i}" for i in range(ROWS)}
    for i, expected in enumerate(OnnxModel.load(onnx).predict_rows(rows)):
        for field, value in expected.items():
            np.testing.assert_allclose(scored[f"e{i}"][field], value, rtol=1e-6, err_msg=field)
    assert (registry.cache_dir / "bc" / "2" / "model.onnx").read_bytes() == onnx.read_bytes()


def test_an_alias_that_moved_to_other_bytes_does_not_resume_the_job(
    registry: Registry, model_factory: Callable[[str], Path], pipeline_spec_factory,
    dataset_factory, tmp_path: Path,
) -> None:
    from streaminfer.pipelines.batch.job import BatchJob

    registry.register_model("bc", model_factory("breast_cancer"), metrics={},
                            lineage=Lineage("import"))
    registry.set_alias("bc", "champion", "1")
    spec = with_batch(pipeline_spec_factory(
        model_options={"path": "models:/bc@champion"}, registry=registry_section(registry)))
    source = write_parquet(tmp_path / "in.parquet",
                           dataset_rows(dataset_factory("breast_cancer"), 10))
    BatchJob(spec, str(source), str(tmp_path / "out")).manifest()  # planned with version 1
    with pytest.raises(RegistryError):
        batch(spec.model_copy(update={"model": spec.model.model_copy(  # type: ignore[union-attr]
            update={"path": "models:/bc@nobody"})}), str(source), str(tmp_path / "out"))
    registry.register_model("bc", model_factory("fraud"), metrics={},
                            lineage=Lineage("import"))
    registry.set_alias("bc", "champion", "2")
    with pytest.raises(ConfigError, match="already holds another job"):
        batch(spec, str(source), str(tmp_path / "out"))
