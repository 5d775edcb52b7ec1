"""The feedback topics: made sure of, and co-partitioned with the predictions topic."""

from __future__ import annotations

from typing import Any

from streaminfer.errors import ConfigError
from streaminfer.pipelines.kafka.topics import ensure_topics
from streaminfer.pipelines.spec.schema import PipelineSpec


def prepare_feedback_topics(spec: PipelineSpec, kafka_config: dict[str, Any]) -> int:
    """Create the missing feedback topics (as many partitions as the predictions topic) and
    check that the labels and training topics have exactly as many; the partition count."""
    fb = spec.feedback
    assert fb is not None
    predictions = spec.sink.predictions_topic
    partitions = spec.sink.partitions or spec.source.partitions
    create = spec.kafka.create_missing_topics
    counts = ensure_topics(kafka_config, {predictions: partitions}, create_missing=create)
    wanted = {fb.labels_topic: counts[predictions], fb.training_topic: counts[predictions]}
    if fb.unmatched_topic is not None:
        wanted[fb.unmatched_topic] = counts[predictions]
    counts.update(ensure_topics(kafka_config, wanted, create_missing=create))
    check_copartitioned(predictions, counts[predictions], fb.labels_topic,
                        counts[fb.labels_topic])
    check_copartitioned(predictions, counts[predictions], fb.training_topic,
                        counts[fb.training_topic], field="training_topic",
                        why="the examples of partition i, which a restarted joiner reads back "
                        "to know what it joined, go to its partition i")
    return counts[predictions]


def check_copartitioned(predictions: str, prediction_parts: int, labels: str,
                        label_parts: int, *, field: str = "labels_topic",
                        why: str = "a prediction and its label (keyed by the same id) meet "
                        "in the same partition") -> None:
    """A prediction and its label meet only in the same partition number (and its example
    goes to that partition of the training topic).

    >>> check_copartitioned("p", 4, "l", 2)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    streaminfer.errors.ConfigError: feedback.labels_topic l has 2 partition(s) but ...
    """
    if prediction_parts != label_parts:
        raise ConfigError(
            f"feedback.{field} {labels} has {label_parts} partition(s) but the predictions "
            f"topic {predictions} has {prediction_parts}: they must be equal, so that {why}; "
            f"recreate {labels} with {prediction_parts} partitions"
        )


def assignment(partitions: int, joiners: int) -> list[list[int]]:
    """Partition numbers per joiner: joiner i owns every p with p % joiners == i.

    >>> assignment(5, 2)
    [[0, 2, 4], [1, 3]]
    """
    return [list(range(i, partitions, joiners)) for i in range(min(joiners, partitions))]
