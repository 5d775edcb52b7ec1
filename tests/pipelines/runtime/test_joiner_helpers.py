"""The joiner's small pure parts: ids as keys, what the live window takes of a prediction,
and which joiner owns which partitions."""

from __future__ import annotations

import pytest

from streaminfer.errors import ConfigError
from streaminfer.pipelines.feedback.topics import assignment, check_copartitioned
from streaminfer.pipelines.runtime.joiner import join_key, score_of
from streaminfer.pipelines.spec.feedback_spec import FeedbackSpec
from streaminfer.pipelines.spec.schema import PipelineSpec

FB = FeedbackSpec.model_validate({"labels_topic": "l", "training_topic": "t"})


def test_ids_of_any_json_shape_are_keys_and_equal_ids_meet() -> None:
    assert join_key("e1") == "e1" and join_key(7) == 7
    assert join_key({"b": 1, "a": 2}) == join_key({"a": 2, "b": 1})
    assert join_key([1, 2]) != join_key([2, 1])
    assert join_key("7") != join_key(7)  # a string id and a number id are different ids


def test_the_live_window_takes_probabilities_or_a_value() -> None:
    assert score_of({"label": 1, "probabilities": [0.25, 0.75]}, FB) == [0.25, 0.75]
    assert score_of({"variable": [151.5]}, FB) == 151.5
    assert score_of({"variable": 3}, FB) == 3.0
    assert score_of({"label": 1}, FB) is None
    # Not numbers: no score (the joiner crashed on these, again at each restart).
    assert score_of({"probabilities": ["x", "y"]}, FB) is None
    assert score_of({"probabilities": [0.5, None]}, FB) is None
    assert score_of({"variable": True}, FB) is None
    renamed = FeedbackSpec.model_validate({"labels_topic": "l", "training_topic": "t",
                                           "live": {"value_field": "progression"}})
    assert score_of({"progression": 99.0}, renamed) == 99.0


@pytest.mark.parametrize(("partitions", "joiners"), [(4, 1), (4, 2), (5, 3), (2, 4)])
def test_every_partition_has_exactly_one_joiner(partitions: int, joiners: int) -> None:
    shares = assignment(partitions, joiners)
    assert len(shares) == min(partitions, joiners)
    assert sorted(p for share in shares for p in share) == list(range(partitions))


def test_equal_partition_counts_pass() -> None:
    check_copartitioned("p", 3, "l", 3)
    with pytest.raises(ConfigError, match="recreate l with 3 partitions"):
        check_copartitioned("p", 3, "l", 6)


def test_live_fields_follow_a_renamed_output() -> None:
    def spec(outputs: dict[str, str] | None, **live: str) -> PipelineSpec:
        return PipelineSpec.model_validate({
            "name": "p", "source": {"topics": ["e"], "group_id": "g", "features": ["a"]},
            "model": {"path": "m.onnx", "outputs": outputs},
            "sink": {"predictions_topic": "o", "dead_letter_topic": "d"},
            "feedback": {"labels_topic": "l", "training_topic": "t",
                         **({"live": live} if live else {})}})

    renamed = spec({"label": "digit", "probabilities": "scores"}).feedback
    assert renamed is not None
    assert score_of({"digit": 3, "scores": [0.25, 0.75]}, renamed) == [0.25, 0.75]
    regressor = spec({"variable": "progression"}).feedback
    assert regressor is not None and score_of({"progression": [99.0]}, regressor) == 99.0
    chosen = spec({"variable": "progression"}, value_field="other").feedback
    assert chosen is not None and chosen.live.value_field == "other"
    plain = spec(None).feedback
    assert plain is not None and score_of({"variable": 3}, plain) == 3.0
