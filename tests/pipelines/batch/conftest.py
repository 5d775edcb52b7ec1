"""Batch fixtures: a spec with a batch section, input files, and readers of the outputs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from streaminfer.pipelines.devtools.example_models import Dataset
from streaminfer.pipelines.spec.batch_spec import BatchSpec
from streaminfer.pipelines.spec.schema import PipelineSpec

#: Fields that differ between two runs of the same events.
VOLATILE = ("ts", "latency_ms")


def with_batch(spec: PipelineSpec, **settings: Any) -> PipelineSpec:
    """``spec`` with a ``batch`` section (small actors: the session Ray has 8 CPUs)."""
    merged = {"actors": 2, "num_cpus": 0.5, "unit_rows": 250, **settings}
    return spec.model_copy(update={"batch": BatchSpec(**merged)})


def dataset_rows(dataset: Dataset, count: int, start: int = 0) -> list[dict[str, Any]]:
    """Rows ``e<start>``...: the same values as conftest's events of ``dataset``."""
    return [{"id": f"e{i}", **dict(zip(dataset.features, dataset.X[i % len(dataset.X)].tolist(),
                                       strict=True))} for i in range(start, start + count)]


def write_parquet(path: Path, rows: list[dict[str, Any]], row_group_size: int = 100) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=row_group_size)
    return path


def predictions_in(folder: Path) -> list[dict[str, Any]]:
    """Every prediction in the part files of ``folder`` (Parquet or JSONL)."""
    found: list[dict[str, Any]] = []
    for part in sorted(folder.glob("part-*")):
        if part.suffix == ".parquet":
            found += pq.read_table(part).to_pylist()
        else:
            found += [orjson.loads(line) for line in part.read_bytes().splitlines()]
    return found


def dead_letters_in(folder: Path) -> list[dict[str, Any]]:
    """Every dead letter in the ``dead_letters/`` part files of ``folder``."""
    return [orjson.loads(line) for part in sorted((folder / "dead_letters").glob("part-*.jsonl"))
            for line in part.read_bytes().splitlines()]


def stable(prediction: dict[str, Any], *, without_source: bool = False) -> dict[str, Any]:
    """A prediction less what changes from run to run (and its origin, if asked)."""
    drop = (*VOLATILE, "source") if without_source else VOLATILE
    return {k: v for k, v in prediction.items() if k not in drop}


@pytest.fixture
def batch_spec(
    pipeline_spec_factory: Callable[..., PipelineSpec],
) -> Callable[..., PipelineSpec]:
    """``batch_spec(model="breast_cancer", partitions=2, **batch_settings)``."""

    def make(model: str = "breast_cancer", partitions: int = 2, **settings: Any) -> PipelineSpec:
        return with_batch(pipeline_spec_factory(model=model, partitions=partitions), **settings)

    return make
