"""BatchScorer with a candidate and the swaps a loop applies, on real ONNX models: a canary
answers the rows its hash picks, a shadow scores a copy of every row, a swap applies at the
next batch boundary only; and the pure rules (alias moves, the candidate decision)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from streaminfer.errors import ConfigError, RegistryError
from streaminfer.operators.codecs import JsonCodec
from streaminfer.operators.model_runner import OnnxModel
from streaminfer.operators.records import SourceRecord
from streaminfer.pipelines.devtools.example_models import Dataset
from streaminfer.pipelines.lifecycle.swap_rule import (
    Following,
    candidate_moves,
    next_candidate,
    next_version,
)
from streaminfer.pipelines.lifecycle.versions import Candidate
from streaminfer.pipelines.runtime.candidates import canary_picks
from streaminfer.pipelines.runtime.model_backends import LocalModel
from streaminfer.pipelines.runtime.model_swaps import ModelSwaps
from streaminfer.pipelines.runtime.scoring import BatchScorer
from streaminfer.pipelines.spec.schema import SourceSpec
from tests.fixtures.streams import events_of

ROWS = 400


@pytest.fixture(scope="module")
def bc(dataset_factory: Callable[[str], Dataset]) -> Dataset:
    return dataset_factory("breast_cancer")


@pytest.fixture(scope="module")
def versions(model_factory: Callable[[str], Path]) -> tuple[LocalModel, LocalModel]:
    path = model_factory("breast_cancer")
    return (LocalModel(OnnxModel.load(path, name="bc", version="1")),
            LocalModel(OnnxModel.load(path, name="bc", version="2")))


def scorer_and_records(bc: Dataset, served: LocalModel
                       ) -> tuple[BatchScorer, list[SourceRecord]]:
    source = SourceSpec.model_validate({"topics": ["t"], "group_id": "g", "id_field": "id",
                                        "features": bc.features})
    keys, values = events_of(bc, ROWS)
    records = [SourceRecord("t", 0, i, 0, k, v) for i, (k, v) in
               enumerate(zip(keys, values, strict=True))]
    return BatchScorer({"bc": served}, source, JsonCodec()), records


def versions_by_id(predictions: list[tuple[bytes | None, bytes]]) -> dict[str, str]:
    return {p["id"]: p["model_version"] for p in (orjson.loads(v) for _, v in predictions)}


def test_a_canary_answers_exactly_the_rows_its_hash_picks(
    bc: Dataset, versions: tuple[LocalModel, LocalModel],
) -> None:
    scorer, records = scorer_and_records(bc, versions[0])
    scorer.set_candidate("bc", Candidate(versions[1], "canary", 0.25))
    scored = versions_by_id(scorer.score(records).predictions)
    ids = [f"e{i}" for i in range(ROWS)]
    assert list(scored) == ids  # input order, every row once
    picked = canary_picks(ids, 0.25)
    assert [v == "2" for v in scored.values()] == picked
    assert 0.17 < sum(picked) / ROWS < 0.33


def test_a_shadow_scores_a_copy_and_changes_no_served_prediction(
    bc: Dataset, versions: tuple[LocalModel, LocalModel],
) -> None:
    scorer, records = scorer_and_records(bc, versions[0])
    alone = scorer.score(records).predictions
    scorer.set_candidate("bc", Candidate(versions[1], "shadow"))
    scored = scorer.score(records)
    strip = [{k: v for k, v in orjson.loads(p).items() if k not in ("ts", "latency_ms")}
             for _, p in scored.predictions]
    assert strip == [{k: v for k, v in orjson.loads(p).items()
                      if k not in ("ts", "latency_ms")} for _, p in alone]
    assert set(versions_by_id(scored.shadow_predictions).values()) == {"2"}
    assert len(scored.shadow_predictions) == ROWS
    assert scored.shadow_agreement == {("bc", "2"): [ROWS, ROWS]}  # the same model


def test_a_staged_swap_applies_at_the_next_boundary_only(
    bc: Dataset, versions: tuple[LocalModel, LocalModel],
) -> None:
    scorer, records = scorer_and_records(bc, versions[0])
    swaps = ModelSwaps()
    applied = swaps.replace("bc", versions[1])
    before = scorer.score(records[:200])
    assert not applied.is_set()
    swaps.apply(scorer, "w")
    after = scorer.score(records[200:])
    assert applied.is_set()
    assert set(versions_by_id(before.predictions).values()) == {"1"}
    assert set(versions_by_id(after.predictions).values()) == {"2"}


def test_a_version_with_another_input_is_refused(
    bc: Dataset, versions: tuple[LocalModel, LocalModel], model_factory: Callable[[str], Path],
) -> None:
    scorer, _ = scorer_and_records(bc, versions[0])
    other = LocalModel(OnnxModel.load(model_factory("diabetes"), name="bc", version="9"))
    with pytest.raises(ConfigError, match="same input"):
        scorer.check_replacement("bc", other)


def test_the_rules() -> None:
    model = Following("bc", "champion", serving="1", serve=False)
    assert next_version(model, "2").swap_to == "2"
    model.refused["3"] = "broken"
    assert next_version(model, "3").swap_to is None
    model.candidate = Candidate("2", "shadow")
    assert next_candidate(model, None) == (True, None)
    assert next_candidate(model, Candidate("2", "shadow")) == (False, Candidate("2", "shadow"))
    with pytest.raises(RegistryError, match="no challenger"):
        candidate_moves({"champion": "1"}, "shadow", None)
    with pytest.raises(RegistryError, match="is the champion"):
        candidate_moves({"champion": "1"}, "canary", "1")
