"""A unit that fails in a batch actor reaches the driver as the very streaminfer error the
actor raised (type and whole message), not rebuilt from Ray's text: the scorer hands it back
as data, the job raises it again."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from streaminfer.errors import DataError, ModelError
from streaminfer.pipelines.batch.actor import Target, UnitScorer
from streaminfer.pipelines.batch.files import plan_files
from streaminfer.pipelines.batch.job import ERROR_COLUMN, ReportingScorer, batch, raise_failed
from streaminfer.pipelines.devtools.example_models import Dataset
from streaminfer.pipelines.kafka.sink import SinkError
from streaminfer.pipelines.spec.schema import PipelineSpec
from tests.pipelines.batch.conftest import dataset_rows, with_batch, write_parquet


def _args(spec: PipelineSpec, out: Path, models: dict[str, bytes] | None = None
          ) -> dict[str, Any]:
    if models is None:
        models = {m.model_name: Path(m.path).read_bytes() for m in spec.model_specs}
    return {"spec": spec, "models": models, "target": Target(folder=str(out)),
            "source_kafka": None, "batch_size": 100}


def _batch(unit: Any) -> dict[str, Any]:
    return {"unit": np.array([orjson.dumps(unit.to_dict()).decode()], dtype=object)}


def test_a_unit_that_fails_hands_back_the_error_the_actor_raised(
    batch_spec: Callable[..., PipelineSpec], dataset_factory: Callable[[str], Dataset],
    tmp_path: Path,
) -> None:
    spec = batch_spec()
    rows = dataset_rows(dataset_factory("breast_cancer"), 50)
    gone = write_parquet(tmp_path / "in" / "a.parquet", rows)
    [unit] = plan_files(str(tmp_path / "in"), 250, None)
    gone.unlink()  # vanishes between planning and reading
    (tmp_path / "out").mkdir()
    with pytest.raises(DataError) as direct:  # what the actor raises
        UnitScorer(**_args(spec, tmp_path / "out")).score_unit(unit)

    result = ReportingScorer(**_args(spec, tmp_path / "out"))(_batch(unit))
    assert result["key"] == [unit.key] and result["rows"] == [0]
    with pytest.raises(DataError) as handed:
        raise_failed({name: values[0] for name, values in result.items()})
    assert type(handed.value) is DataError and str(handed.value) == str(direct.value)


def test_models_that_do_not_load_in_the_actor_fail_each_unit_with_that_error(
    batch_spec: Callable[..., PipelineSpec], dataset_factory: Callable[[str], Dataset],
    tmp_path: Path,
) -> None:
    spec = batch_spec()
    write_parquet(tmp_path / "in" / "a.parquet",
                  dataset_rows(dataset_factory("breast_cancer"), 50))
    [unit] = plan_files(str(tmp_path / "in"), 250, None)
    broken = {m.model_name: b"not an onnx model" for m in spec.model_specs}
    scorer = ReportingScorer(**_args(spec, tmp_path / "out", broken))
    assert isinstance(scorer.failed, ModelError)
    [error] = scorer(_batch(unit))[ERROR_COLUMN]
    with pytest.raises(ModelError, match=str(scorer.failed)[:30]):
        raise_failed({ERROR_COLUMN: error})


def test_an_error_from_outside_streaminfer_errors_keeps_its_type_and_every_line() -> None:
    """The old text match knew streaminfer.errors' names and one line only."""
    import pickle

    error = SinkError("predictions-topic: 3 records not acknowledged\nfirst: timed out")
    with pytest.raises(SinkError) as raised:
        raise_failed({ERROR_COLUMN: pickle.dumps(error), "key": "part-00000"})
    assert str(raised.value) == str(error)
    raise_failed({ERROR_COLUMN: b"", "key": "part-00000"})  # a unit that succeeded


def test_a_unit_that_fails_in_a_ray_actor_is_that_error_in_the_driver(
    ray_session: Any, pipeline_spec_factory: Callable[..., PipelineSpec],
    dataset_factory: Callable[[str], Dataset], tmp_path: Path,
) -> None:
    """Through Ray Data: the actors cannot load the model (it is read, not loaded, in the
    driver), and the job raises the ModelError they raised, message whole."""
    bc = dataset_factory("breast_cancer")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx model")
    spec = with_batch(pipeline_spec_factory(model=broken, features=bc.features), actors=1)
    write_parquet(tmp_path / "in" / "a.parquet", dataset_rows(bc, 50))
    with pytest.raises(ModelError) as raised:
        batch(spec, str(tmp_path / "in"), str(tmp_path / "out"))
    with pytest.raises(ModelError) as direct:
        UnitScorer(**_args(spec, tmp_path / "direct"))
    assert str(raised.value) == str(direct.value)
