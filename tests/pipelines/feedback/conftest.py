"""Fixtures of the feedback tests: a pipeline with a feedback section on fresh topics."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from streaminfer.pipelines.feedback.live_metrics import FeedbackSummary


def feedback_section(**overrides: Any) -> dict[str, Any]:
    """A feedback section on fresh topics, with short windows and flushes for tests."""
    tag = uuid.uuid4().hex[:8]
    section: dict[str, Any] = {
        "labels_topic": f"labels-{tag}", "training_topic": f"examples-{tag}",
        "flush_every_ms": 100, "prediction_wait_s": 30, "label_wait_s": 30,
        "joiners": {"count": 1, "num_cpus": 0.25, "max_restarts": 2},
    }
    section.update(overrides)
    return section


@pytest.fixture
def feedback_pipeline(pipeline_factory: Callable[..., Any]) -> Callable[..., Any]:
    """``feedback_pipeline(partitions=2, model="breast_cancer", **feedback_overrides)`` -> a
    started pipeline with feedback on (one worker)."""

    def make(partitions: int = 2, model: str = "breast_cancer", **overrides: Any) -> Any:
        return pipeline_factory(model=model, partitions=partitions,
                                feedback=feedback_section(**overrides),
                                batching={"max_size": 256, "max_wait_ms": 20})

    return make


def label_values(ids: list[str], values: list[Any]) -> tuple[list[bytes | None], list[bytes]]:
    """Values and keys of label records (keyed by the event id, like the events)."""
    return ([orjson.dumps({"id": i, "label": v}) for i, v in zip(ids, values, strict=True)],
            [i.encode() for i in ids])


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


@pytest.fixture
def summary_of() -> Callable[[Any], FeedbackSummary]:
    """``summary_of(pipeline)`` -> its feedback summary (never None)."""
    return summary
