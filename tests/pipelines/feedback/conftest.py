"""Fixtures of the feedback tests: a pipeline with a feedback section on fresh topics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

from streaminfer.pipelines.feedback.live_metrics import FeedbackSummary
from tests.fixtures.feedback import feedback_section, label_values


@pytest.fixture
def feedback_pipeline(pipeline_factory: Callable[..., Any]) -> Callable[..., Any]:
    """``feedback_pipeline(partitions=2, model="breast_cancer", **feedback_overrides)`` -> a
    started pipeline with feedback on (one worker)."""

    def make(partitions: int = 2, model: str = "breast_cancer", **overrides: Any) -> Any:
        return pipeline_factory(model=model, partitions=partitions,
                                feedback=feedback_section(**overrides),
                                batching={"max_size": 256, "max_wait_ms": 20})

    return make


def summary(pipeline: Any) -> FeedbackSummary:
    found = pipeline.feedback()
    assert found is not None
    return found  # type: ignore[no-any-return]


@pytest.fixture
def fb_section() -> Callable[..., dict[str, Any]]:
    """``fb_section(**overrides)`` -> a feedback section on fresh topics."""
    return feedback_section


@pytest.fixture
def label_records() -> Callable[..., tuple[list[bytes | None], list[bytes]]]:
    """``label_records(ids, labels)`` -> (values, keys) for ``produce(topic, values, keys)``."""
    return label_values


def heads(records: list[Any]) -> set[str]:
    """The id of the first record in each partition (JSON values with an "id")."""
    first: dict[int, Any] = {}
    for record in records:
        if record.partition not in first or record.offset < first[record.partition].offset:
            first[record.partition] = record
    return {orjson.loads(r.value)["id"] for r in first.values()}


@pytest.fixture
def partition_heads() -> Callable[[list[Any]], set[str]]:
    """``partition_heads(records)`` -> the id of the first record in each partition: left
    unlabelled, such a prediction holds its partition's commit back, so that a restarted
    joiner reads every later prediction again."""
    return heads


@pytest.fixture
def summary_of() -> Callable[[Any], FeedbackSummary]:
    """``summary_of(pipeline)`` -> its feedback summary (never None)."""
    return summary
