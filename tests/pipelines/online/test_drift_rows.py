"""What a scored batch hands to the drift counts: exactly the rows the model scored (dead
letters left out), their feature values and their outputs, as in the predictions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import orjson

from streaminfer.operators.codecs import JsonCodec
from streaminfer.operators.model_runner import OnnxModel
from streaminfer.operators.records import RecordError, SourceRecord
from streaminfer.pipelines.devtools.example_models import Dataset
from streaminfer.pipelines.runtime.model_backends import LocalModel
from streaminfer.pipelines.runtime.scoring import BatchScorer, _kept_rows
from streaminfer.pipelines.spec.schema import SourceSpec


def test_scored_rows_are_the_scored_events(
    model_factory: Callable[[str], Path], dataset_factory: Callable[[str], Dataset],
) -> None:
    data = dataset_factory("breast_cancer")
    model = OnnxModel.load(model_factory("breast_cancer"), name="bc", version="v1")
    source = SourceSpec.model_validate({"topics": ["t"], "group_id": "g", "id_field": "id",
                                        "features": data.features})
    scorer = BatchScorer({"bc": LocalModel(model)}, source, JsonCodec())
    values = [orjson.dumps({"id": f"e{i}", **dict(zip(data.features, data.X[i].tolist(),
                                                      strict=True))}) for i in range(12)]
    values[3] = b'{"id": "bad"'
    values[7] = orjson.dumps({"id": "e7", data.features[0]: "large"})
    records = [SourceRecord("t", 0, i, 0, None, v) for i, v in enumerate(values)]
    scored = scorer.score(records)
    X, outputs = scored.scored_rows["bc"]
    good = [i for i in range(12) if i not in (3, 7)]
    assert len(scored.dead_letters) == 2
    np.testing.assert_array_equal(X, data.X[good].astype(np.float32))
    predicted = [orjson.loads(v) for _, v in scored.predictions]
    assert [o["probabilities"] for o in outputs] == [p["probabilities"] for p in predicted]


def test_rows_the_model_failed_on_are_left_out() -> None:
    matrix = np.arange(6.0).reshape(3, 2)
    rows: list[dict[str, object] | RecordError] = [
        {"y": 1}, RecordError("model_error", "no", "model"), {"y": 3}]
    X, outputs = _kept_rows(matrix, rows)
    assert X.tolist() == [[0.0, 1.0], [4.0, 5.0]] and outputs == [{"y": 1}, {"y": 3}]
