"""The rollout section: a shadow topic of its own."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from streaminfer.pipelines.spec.schema import PipelineSpec


def test_a_shadow_topic_that_is_the_predictions_topic_is_refused() -> None:
    data = {"name": "p", "kafka": {"bootstrap_servers": "127.0.0.1:9"},
            "source": {"topics": ["events"], "group_id": "g", "features": ["a"]},
            "model": {"path": "models:/bc@champion"},
            "sink": {"predictions_topic": "preds", "dead_letter_topic": "dlq"},
            "rollout": {"shadow_topic": "preds"}}
    with pytest.raises(ValidationError, match="a shadow's predictions need their own"):
        PipelineSpec.model_validate(data)
    data["rollout"] = {"shadow_topic": "preds-shadow"}
    assert PipelineSpec.model_validate(data).rollout.shadow_topic == "preds-shadow"


def test_promote_and_then_are_off_and_register_by_default_and_checked() -> None:
    from streaminfer.pipelines.spec.retrain_policy_spec import RetrainPolicySpec
    from streaminfer.pipelines.spec.rollout_spec import RolloutSpec

    assert RolloutSpec().promote is None and RetrainPolicySpec().then == "register"
    rule = RolloutSpec.model_validate({"promote": {"min_gain": 0.02}}).promote
    assert rule is not None and (rule.metric, rule.min_examples) == ("accuracy", 200)
    with pytest.raises(ValidationError, match="then"):
        RetrainPolicySpec.model_validate({"then": "promote"})
    with pytest.raises(ValidationError, match="min_gain"):
        RolloutSpec.model_validate({"promote": {"min_gain": -1}})
