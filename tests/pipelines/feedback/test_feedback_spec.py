"""The ``feedback:`` section: defaults, refusals naming the field, topics kept apart."""

from __future__ import annotations

from pathlib import Path

import pytest

from streaminfer.errors import ConfigError
from streaminfer.pipelines.spec.loader import parse_spec

BASE = """\
name: p
source: {topics: [events], group_id: g, features: [a, b]}
model: {path: m.onnx}
sink: {predictions_topic: preds, dead_letter_topic: dlq}
"""


def parse(feedback: str) -> object:
    return parse_spec(BASE + f"feedback: {feedback}\n", source="pipe.yaml", base=Path("/b"))


def problem(feedback: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse(feedback)
    return str(info.value)


def test_a_minimal_feedback_section_gets_the_defaults() -> None:
    spec = parse("{labels_topic: labels, training_topic: examples}")
    fb = spec.feedback  # type: ignore[attr-defined]
    assert (fb.id_field, fb.label_field, fb.label_time_field) == ("id", "label", None)
    assert fb.features_from == "prediction" and fb.unmatched_topic is None
    assert fb.consumer_group("g") == "g-feedback"
    assert fb.joiners.count == 1 and fb.live.window == 2_000


def test_without_feedback_there_is_none() -> None:
    assert parse_spec(BASE, source="p.yaml", base=Path("/b")).feedback is None


def test_an_unknown_key_is_named_with_a_guess() -> None:
    text = problem("{labels_topic: l, training_topic: t, label_feild: y}")
    assert "feedback.label_feild" in text and "label_field" in text


def test_a_missing_topic_is_named() -> None:
    assert "feedback.training_topic" in problem("{labels_topic: l}")


def test_out_of_range_windows_and_bounds_are_refused() -> None:
    assert "feedback.prediction_wait_s" in problem(
        "{labels_topic: l, training_topic: t, prediction_wait_s: 0}")
    assert "feedback.max_pending" in problem(
        "{labels_topic: l, training_topic: t, max_pending: 1}")
    assert "feedback.joiners.count" in problem(
        "{labels_topic: l, training_topic: t, joiners: {count: -1}}")


def test_features_come_only_from_predictions() -> None:
    assert "feedback.features_from" in problem(
        "{labels_topic: l, training_topic: t, features_from: somewhere}")


def test_feedback_topics_must_differ_from_each_other_and_the_pipelines() -> None:
    assert "must differ" in problem("{labels_topic: l, training_topic: l}")
    assert "preds" in problem("{labels_topic: preds, training_topic: t}")
    assert "events" in problem("{labels_topic: l, training_topic: t, unmatched_topic: events}")
