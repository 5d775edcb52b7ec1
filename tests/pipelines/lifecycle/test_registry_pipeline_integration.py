"""A pipeline that names models:/NAME@champion scores with the registered version; a changed
artifact stops it before any worker starts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from streaminfer.api import Pipeline
from streaminfer.errors import ModelError, PipelineError
from streaminfer.operators.records import Record
from streaminfer.pipelines.devtools.example_models import Dataset
from streaminfer.pipelines.lifecycle.registry import Lineage, Registry
from streaminfer.pipelines.spec.schema import PipelineSpec
from tests.fixtures.registry import registry_section

pytestmark = pytest.mark.integration
EVENTS = 400


def test_a_pipeline_scores_with_the_champion_of_the_registry(
    registry: Registry, model_factory: Callable[[str], Path],
    pipeline_factory: Callable[..., Any], make_events: Callable[..., tuple[list[bytes],
                                                                        list[bytes]]],
    dataset_factory: Callable[[str], Dataset], produce: Callable[..., None],
    read_topic: Callable[..., list[Record]],
) -> None:
    onnx = model_factory("breast_cancer")
    registry.register_model("bc", onnx, metrics={}, lineage=Lineage("import"))
    registry.register_model("bc", onnx, metrics={}, lineage=Lineage("import"))
    registry.set_alias("bc", "champion", "2")
    running = pipeline_factory(model_options={"path": "models:/bc@champion"},
                               registry=registry_section(registry), partitions=2)
    keys, values = make_events(dataset_factory("breast_cancer"), EVENTS)
    produce(running.source_topic, values, keys)
    predictions = [orjson.loads(r.value) for r in read_topic(running.predictions_topic, EVENTS)]
    assert sorted(p["id"] for p in predictions) == sorted(f"e{i}" for i in range(EVENTS))
    assert {(p["model"], p["model_version"]) for p in predictions} == {("bc", "2")}
    assert all(len(p["probabilities"]) == 2 for p in predictions)
    downloaded = registry.cache_dir / "bc" / "2" / "model.onnx"
    assert downloaded.read_bytes() == onnx.read_bytes()


def test_a_changed_artifact_stops_the_pipeline_before_it_starts(
    registry: Registry, model_factory: Callable[[str], Path], ray_session: None,
    pipeline_spec_factory: Callable[..., PipelineSpec],
) -> None:
    version = registry.register_model("bc", model_factory("breast_cancer"), metrics={},
                                      lineage=Lineage("import"))
    registry.set_alias("bc", "champion", version.version)
    stored = Path(version.source.removeprefix("file://")) / "model.onnx"
    stored.write_bytes(stored.read_bytes().replace(b"probabilities", b"probabilitiez"))
    spec = pipeline_spec_factory(model_options={"path": "models:/bc@champion"},
                                 registry=registry_section(registry))
    pipeline = Pipeline(spec)
    with pytest.raises(ModelError, match="changed after it was registered; refusing"):
        pipeline.start()
    with pytest.raises(PipelineError, match="is not running"):
        pipeline.stats()
