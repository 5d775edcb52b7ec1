"""With feedback on, each prediction carries its feature row by name (a real model scores)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson

from streaminfer.operators.codecs import JsonCodec
from streaminfer.operators.model_runner import OnnxModel
from streaminfer.operators.records import SourceRecord
from streaminfer.pipelines.devtools.example_models import Dataset
from streaminfer.pipelines.runtime.model_backends import LocalModel
from streaminfer.pipelines.runtime.scoring import BatchScorer
from streaminfer.pipelines.spec.schema import SourceSpec


def score(model: OnnxModel, source: SourceSpec, events: list[dict[str, object]],
          with_features: bool) -> list[dict[str, object]]:
    scorer = BatchScorer({model.info.name: LocalModel(model)}, source, JsonCodec(),
                         with_features=with_features)
    records = [SourceRecord("t", 0, i, 0, None, orjson.dumps(e)) for i, e in enumerate(events)]
    return [orjson.loads(value) for _, value in scorer.score(records).predictions]


def test_named_features_in_model_order(
    model_factory: Callable[[str], Path], dataset_factory: Callable[[str], Dataset],
) -> None:
    data = dataset_factory("breast_cancer")
    model = OnnxModel.load(model_factory("breast_cancer"))
    source = SourceSpec.model_validate({"topics": ["t"], "group_id": "g", "id_field": "id",
                                        "features": data.features})
    # the event lists its fields in reverse and carries one more: the row keeps model order
    event = {"id": "e0", "note": "x",
             **dict(reversed(list(zip(data.features, data.X[0].tolist(), strict=True))))}
    [with_row] = score(model, source, [event], with_features=True)
    assert list(with_row["features"]) == data.features  # type: ignore[arg-type]
    assert list(with_row["features"].values()) == data.X[0].tolist()  # type: ignore[union-attr]
    [without] = score(model, source, [event], with_features=False)
    assert "features" not in without
    assert {k: v for k, v in with_row.items() if k not in ("features", "ts", "latency_ms")} == \
        {k: v for k, v in without.items() if k not in ("ts", "latency_ms")}


def test_an_array_field_gives_positional_names(
    model_factory: Callable[[str], Path], dataset_factory: Callable[[str], Dataset],
) -> None:
    data = dataset_factory("diabetes")
    model = OnnxModel.load(model_factory("diabetes"))
    source = SourceSpec.model_validate({"topics": ["t"], "group_id": "g", "id_field": "id",
                                        "features_field": "x"})
    [prediction] = score(model, source, [{"id": "p", "x": data.X[3].tolist()}], True)
    assert prediction["features"] == {f"f{i}": v for i, v in enumerate(data.X[3].tolist())}
