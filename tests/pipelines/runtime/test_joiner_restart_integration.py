"""A joiner that restarts remembers what it joined: after a graceful stop and a new start of
the pipeline, a second, different label for an id already joined publishes nothing (counted as
``duplicate_label``), whether the joined predictions are read again (an unlabelled prediction
at the head of each partition holds the commit back) or were committed past."""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson
import pytest

from streaminfer import Pipeline
from streaminfer.waiting import wait_until

pytestmark = pytest.mark.integration

EVENTS = 100


@pytest.mark.parametrize("hold", [True, False], ids=["read-again", "committed-past"])
def test_a_restarted_joiner_keeps_the_first_label(
    hold: bool, feedback_pipeline: Any, produce: Any, make_events: Any, dataset_factory: Any,
    read_topic: Any, read_all: Any, label_records: Any, summary_of: Any,
    partition_heads: Any,
) -> None:
    rp = feedback_pipeline(partitions=2, prediction_wait_s=600, label_wait_s=600)
    fb = rp.spec.feedback
    keys, values = make_events(dataset_factory("breast_cancer"), EVENTS)
    produce(rp.source_topic, values, keys)
    predictions = read_topic(rp.predictions_topic, EVENTS)
    held = partition_heads(predictions) if hold else set()  # unlabelled: the commit stays
    joined = [f"e{i}" for i in range(EVENTS) if f"e{i}" not in held]
    first = {i: int(i[1:]) % 2 for i in joined}
    produce(fb.labels_topic, *label_records(joined, [first[i] for i in joined]))
    assert wait_until(lambda: summary_of(rp.pipeline).examples_out == len(joined), 60)

    rp.pipeline.stop()  # graceful: the joiner produces and commits what it joined
    again = Pipeline(rp.spec).start()
    try:
        again.wait_ready(timeout_s=60)
        if hold:  # the new joiner reads every prediction again
            assert wait_until(
                lambda: summary_of(again).records_in.get("prediction", 0) >= EVENTS, 60)
        produce(fb.labels_topic, *label_records(joined, [1 - first[i] for i in joined]))
        produce(fb.labels_topic, *label_records(sorted(held), [1] * len(held)))
        assert wait_until(lambda: summary_of(again).cases["duplicate_label"] >= len(joined)
                          and summary_of(again).examples_out >= len(held), 60), \
            summary_of(again).cases
        cases = summary_of(again).cases
        assert cases["duplicate_label"] == len(joined)
        assert cases["label_after_prediction"] == len(held)  # the held ones still join
        # each joined prediction read again is dropped, not published again
        assert cases["replayed_match"] == (len(joined) if hold else 0)
        assert summary_of(again).examples_out == len(held)
    finally:
        again.stop()

    examples = [orjson.loads(r.value) for r in read_all(fb.training_topic)]
    assert Counter(e["id"] for e in examples) == Counter(joined + sorted(held))
    assert all(e["label"] == first[e["id"]] for e in examples if e["id"] in first)
    # the example of partition i is on partition i (what a restarted joiner reads back)
    where = {orjson.loads(r.value)["id"]: r.partition for r in predictions}
    assert all(where[orjson.loads(r.value)["id"]] == r.partition
               for r in read_all(fb.training_topic))
