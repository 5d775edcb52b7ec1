"""Shadow agreement compares the class label under the field ``model.outputs`` publishes it
as, on real ONNX models scored by the real BatchScorer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from streaminfer.operators.codecs import JsonCodec
from streaminfer.operators.model_runner import OnnxModel
from streaminfer.operators.records import SourceRecord
from streaminfer.pipelines.devtools.example_models import Dataset
from streaminfer.pipelines.lifecycle.versions import Candidate
from streaminfer.pipelines.runtime.candidates import agrees
from streaminfer.pipelines.runtime.model_backends import LocalModel
from streaminfer.pipelines.runtime.scoring import BatchScorer
from streaminfer.pipelines.spec.schema import SourceSpec
from tests.fixtures.streams import events_of

ROWS = 200
RENAMED = {"probabilities": "scores", "label": "verdict"}  # probabilities first


def test_a_shadow_of_a_renamed_label_is_compared_on_it(
    model_factory: Callable[[str], Path], dataset_factory: Callable[[str], Dataset],
) -> None:
    data = dataset_factory("breast_cancer")
    path = model_factory("breast_cancer")
    served, shadow = (LocalModel(OnnxModel.load(path, name="bc", version=v, outputs=RENAMED))
                      for v in ("1", "2"))
    source = SourceSpec.model_validate({"topics": ["t"], "group_id": "g", "id_field": "id",
                                        "features": data.features})
    keys, values = events_of(data, ROWS)
    records = [SourceRecord("t", 0, i, 0, k, v)
               for i, (k, v) in enumerate(zip(keys, values, strict=True))]
    scorer = BatchScorer({"bc": served}, source, JsonCodec())
    scorer.set_candidate("bc", Candidate(shadow, "shadow"))
    assert scorer.score(records).shadow_agreement == {("bc", "2"): [ROWS, ROWS]}


def test_agreement_is_on_the_label_field_given() -> None:
    a = {"scores": [0.2, 0.8], "verdict": 1}
    b = {"scores": [0.4, 0.6], "verdict": 1}
    assert agrees(a, b, "verdict") is True
    assert agrees(a, {**b, "verdict": 0}, "verdict") is False
