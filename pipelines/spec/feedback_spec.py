"""The ``feedback`` section: join late labels to predictions, publish labelled examples.

>>> spec = FeedbackSpec.model_validate(
...     {"labels_topic": "labels", "training_topic": "examples"})
>>> spec.id_field, spec.label_field, spec.joiners.count
('id', 'label', 1)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, model_validator

from streaminfer.operators.output_roles import Role, output_field
from streaminfer.pipelines.spec.base import FrozenModel, TopicName
from streaminfer.pipelines.spec.workers_spec import CrashLoopSpec

#: The live window's fields, by the output role each reads.
LIVE_FIELDS: dict[str, Role] = {"probabilities_field": "probabilities",
                                "value_field": "value"}


class JoinersSpec(FrozenModel):
    """The joiner actors: each owns partition i of the predictions and labels topics
    together, for every i with ``i % count`` equal to its index."""

    count: int = Field(
        1, ge=0, le=1_024,
        description="Joiner actors (never more than the predictions topic's partitions); 0: "
        "`streaminfer run` starts none (the predictions still carry their features) and "
        "`streaminfer join` runs them elsewhere.",
    )
    num_cpus: float = Field(0.5, ge=0, description="CPUs Ray reserves for each joiner.")
    max_restarts: int = Field(
        3, ge=-1,
        description="Times Ray restarts a joiner that died (-1: without limit); a restarted "
        "joiner reads back the ids it joined from the training topic, then rebuilds its "
        "pending entries by reading again from its committed offsets.",
    )
    crash_loop: CrashLoopSpec = Field(
        default_factory=CrashLoopSpec,
        description="Joiners crashing with the same error again and again stop the pipeline "
        "(and `streaminfer join`).",
    )


class LiveSpec(FrozenModel):
    """Live validation: metrics per model and version over a sliding window of examples."""

    window: int = Field(
        2_000, ge=10, le=1_000_000,
        description="Most recent labelled examples per model and version the live metrics "
        "are computed over.",
    )
    max_age_s: float = Field(
        600.0, gt=0,
        description="Examples labelled longer ago than this leave the window.",
    )
    probabilities_field: str = Field(
        "probabilities",
        description="Prediction field with the class probabilities; a prediction that has "
        "it is scored as a classifier's. Unset: the field model.outputs publishes the "
        "model's 'probabilities' output under (this default when it does not).",
    )
    value_field: str = Field(
        "variable",
        description="Prediction field with a regressor's value (used when there are no "
        "probabilities). Unset: the field model.outputs publishes the model's 'variable' "
        "output under (this default when it does not).",
    )
    classes: tuple[int | str, ...] | None = Field(
        None, min_length=2,
        description="The classes, in the order of the probabilities; default: 0, 1, ... "
        "(what a scikit-learn classifier trained on integer labels exports).",
    )


class FeedbackSpec(FrozenModel):
    """Labels arriving later on their own topic, joined to the predictions by event id."""

    labels_topic: TopicName = Field(
        description="Topic of labels: JSON objects with the event's id and its label, keyed "
        "by the id, with as many partitions as the predictions topic."
    )
    training_topic: TopicName = Field(
        description="Topic that receives one labelled example per joined prediction, keyed "
        "by the event's id, with as many partitions as the predictions topic: the example of "
        "partition i goes to partition i, where a restarted joiner reads back what it "
        "joined (docs/contracts.md)."
    )
    unmatched_topic: TopicName | None = Field(
        None,
        description="Topic that receives each prediction whose label never came within "
        "prediction_wait_s (as it was); none: they are only counted.",
    )
    id_field: str = Field("id", min_length=1, description="Label field holding the event id.")
    label_field: str = Field("label", min_length=1, description="Label field holding the label.")
    label_time_field: str | None = Field(
        None,
        description="Label field with when the label was known (epoch ms); default: the "
        "label record's timestamp.",
    )
    features_from: Literal["prediction"] = Field(
        "prediction",
        description="Where an example's features come from: 'prediction' makes every "
        "prediction carry its feature row ('features': {name: value}), so the join needs no "
        "third topic.",
    )
    prediction_wait_s: float = Field(
        3_600.0, gt=0,
        description="How long a prediction waits for its label (from when the joiner read "
        "it) before it expires.",
    )
    label_wait_s: float = Field(
        600.0, gt=0,
        description="How long a label waits for its prediction (from when the joiner read "
        "it) before it is counted as a label without prediction.",
    )
    max_pending: int = Field(
        200_000, ge=10,
        description="Most pending entries (predictions and labels) one joiner holds; when "
        "full, the entry closest to its deadline expires early (counted as evicted).",
    )
    group_id: str | None = Field(
        None, min_length=1,
        description="Consumer group the joiners commit offsets under; default: "
        "'<source.group_id>-feedback'.",
    )
    flush_every_ms: int = Field(
        250, ge=1, le=60_000,
        description="How often a joiner produces what it joined and commits (few, large "
        "record batches: the embedded broker needs them).",
    )
    fetch_max_wait_ms: int = Field(
        100, ge=1, le=10_000, description="Longest the broker may hold a joiner's fetch."
    )
    joiners: JoinersSpec = Field(
        default_factory=JoinersSpec, description="The joiner actors."
    )
    live: LiveSpec = Field(default_factory=LiveSpec, description="Live validation.")

    @model_validator(mode="after")
    def _distinct_topics(self) -> FeedbackSpec:
        topics = [self.labels_topic, self.training_topic]
        if self.unmatched_topic is not None:
            topics.append(self.unmatched_topic)
        if len(set(topics)) != len(topics):
            raise ValueError("labels_topic, training_topic and unmatched_topic must differ")
        return self

    def consumer_group(self, source_group: str) -> str:
        """The joiners' consumer group."""
        return self.group_id or f"{source_group}-feedback"


def with_live_fields(data: Any) -> Any:
    """A pipeline mapping whose ``feedback.live`` reads the fields its models publish the
    probabilities and value under (``model.outputs``), where it does not name them itself
    and every model publishes them alike.

    >>> raw = {"model": {"outputs": {"variable": "progression"}}, "feedback": {}}
    >>> with_live_fields(raw)["feedback"]["live"]
    {'value_field': 'progression'}
    """
    if not isinstance(data, Mapping) or not isinstance(data.get("feedback"), Mapping):
        return data
    live = data["feedback"].get("live") or {}
    if not isinstance(live, Mapping):
        return data
    models = [data["model"]] if data.get("model") is not None else list(data.get("models") or ())
    mappings = [m.get("outputs") if isinstance(m, Mapping) else getattr(m, "outputs", None)
                for m in models]
    if not mappings or not all(m is None or isinstance(m, Mapping) for m in mappings):
        return data
    filled = dict(live)
    for name, role in LIVE_FIELDS.items():
        fields = {output_field(role, m) for m in mappings}
        if name not in filled and len(fields) == 1 and None not in fields:
            filled[name] = fields.pop()
    if filled == live:
        return data
    return {**data, "feedback": {**data["feedback"], "live": filled}}
