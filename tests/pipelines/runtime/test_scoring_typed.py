"""BatchScorer over a model fed by model.inputs (the fraud_mixed example): strings and numbers
scored, each bad event dead-lettered with its field, the rest of the batch scored; a
prediction for feedback carries the mapped fields."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from streaminfer.errors import ConfigError
from streaminfer.operators.codecs import JsonCodec
from streaminfer.operators.drift import DriftTally
from streaminfer.operators.inputs import InputBinding
from streaminfer.operators.model_runner import OnnxModel
from streaminfer.operators.profile import Profile, profile_path
from streaminfer.operators.records import SourceRecord
from streaminfer.pipelines.runtime.model_backends import LocalModel
from streaminfer.pipelines.runtime.scoring import BatchScorer
from streaminfer.pipelines.spec.schema import SourceSpec

SOURCE = SourceSpec.model_validate({"topics": ["events"], "group_id": "g", "id_field": "id"})
FIELDS = ("country", "category", "channel", "amount", "hour", "card_age_days")


@pytest.fixture(scope="module")
def model(model_factory: Callable[[str], Path]) -> OnnxModel:
    return OnnxModel.load(model_factory("fraud_mixed"), name="mixed", version="v1",
                          inputs={name: InputBinding(field=name) for name in FIELDS})


def _records(events: list[dict[str, Any]]) -> list[SourceRecord]:
    return [SourceRecord("events", 0, i, 1, None, orjson.dumps(e)) for i, e in enumerate(events)]


def test_bad_events_are_dead_lettered_and_the_rest_scored_with_their_fields(
    model: OnnxModel, model_factory: Callable[[str], Path],
) -> None:
    good = {"country": "FR", "category": "travel", "channel": "pos", "amount": 80.0,
            "hour": 14, "card_age_days": 400}
    events = [{"id": "a", **good}, {"id": "b", **good, "hour": 2.5e39},
              {"id": "c", **good, "category": None}, {"id": "d", **good, "country": "GB"}]
    scorer = BatchScorer({"mixed": LocalModel(model)}, SOURCE, JsonCodec(), with_features=True)
    scored = scorer.score(_records(events))
    predictions = [orjson.loads(value) for _, value in scored.predictions]
    assert [p["id"] for p in predictions] == ["a", "d"]
    assert predictions[0]["features"] == {**good}
    assert predictions[1]["features"]["country"] == "GB"
    reasons = {dict(d.headers)["error.field"].decode(): d.error_type for d in scored.dead_letters}
    assert reasons == {"hour": "non_finite_feature", "category": "missing_feature"}
    # Drift counts the scored rows' feed, each input by name, against the input profile.
    feed, outputs = scored.scored_rows["mixed"]
    assert isinstance(feed, dict) and feed["country"][:, 0].tolist() == ["FR", "GB"]
    tally = DriftTally({"mixed": Profile.read(profile_path(model_factory("fraud_mixed")))})
    tally.add("mixed", "v1", feed, outputs)
    counts = tally.snapshot()[("mixed", "v1")]
    assert counts.rows == 2 and tally.failed == {}
    assert counts.prediction is not None and int(counts.prediction.sum()) == 2


def test_a_model_without_inputs_needs_source_features(model_factory) -> None:
    plain = OnnxModel.load(model_factory("breast_cancer"), name="bc")
    with pytest.raises(ConfigError, match=r"model bc takes source.features, which is not "):
        BatchScorer({"bc": LocalModel(plain)}, SOURCE, JsonCodec())
