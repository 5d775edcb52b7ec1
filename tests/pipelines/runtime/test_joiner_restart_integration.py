"""A joiner that restarts remembers what it joined: after a graceful stop and a new start of
the pipeline, a second, different label for an id already joined publishes nothing (counted as
``duplicate_label``), whether the joined predictions are read again (partition 0: an
unlabelled prediction at its head holds the commit back) or were committed past (partition
1: every prediction joined). One pipeline proves both, partition by partition."""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson
import pytest

from streaminfer import Pipeline
from streaminfer.waiting import wait_until

pytestmark = pytest.mark.integration

EVENTS = 100


def test_a_restarted_joiner_keeps_the_first_label_read_again_or_committed_past(
    feedback_pipeline: Any, produce: Any, make_events: Any, dataset_factory: Any,
    read_topic: Any, read_all: Any, label_records: Any, summary_of: Any,
) -> None:
    rp = feedback_pipeline(partitions=2, prediction_wait_s=600, label_wait_s=600)
    fb = rp.spec.feedback
    keys, values = make_events(dataset_factory("breast_cancer"), EVENTS)
    produce(rp.source_topic, values, keys)
    predictions = read_topic(rp.predictions_topic, EVENTS)
    where = {orjson.loads(r.value)["id"]: r.partition for r in predictions}
    head = min((r for r in predictions if r.partition == 0), key=lambda r: r.offset)
    held = {orjson.loads(head.value)["id"]}  # unlabelled: partition 0's commit stays
    joined = [f"e{i}" for i in range(EVENTS) if f"e{i}" not in held]
    read_again = [i for i in joined if where[i] == 0]
    assert read_again and len(read_again) < len(joined)  # both partitions have joined ids
    first = {i: int(i[1:]) % 2 for i in joined}
    produce(fb.labels_topic, *label_records(joined, [first[i] for i in joined]))
    assert wait_until(lambda: summary_of(rp.pipeline).examples_out == len(joined), 60)

    rp.pipeline.stop()  # graceful: the joiner produces and commits what it joined
    again = Pipeline(rp.spec).start()
    try:
        again.wait_ready(timeout_s=60)
        # the new joiner reads partition 0's predictions again
        assert wait_until(lambda: summary_of(again).records_in.get("prediction", 0)
                          >= len(read_again) + 1, 60)
        produce(fb.labels_topic, *label_records(joined, [1 - first[i] for i in joined]))
        produce(fb.labels_topic, *label_records(sorted(held), [1] * len(held)))
        assert wait_until(lambda: summary_of(again).cases["duplicate_label"] >= len(joined)
                          and summary_of(again).examples_out >= len(held), 60), \
            summary_of(again).cases
        cases = summary_of(again).cases
        assert cases["duplicate_label"] == len(joined)
        assert cases["label_after_prediction"] == len(held)  # the held one still joins
        # each joined prediction read again (partition 0 only) is dropped, not published
        assert cases["replayed_match"] == len(read_again)
        assert summary_of(again).examples_out == len(held)
    finally:
        again.stop()

    examples = [orjson.loads(r.value) for r in read_all(fb.training_topic)]
    assert Counter(e["id"] for e in examples) == Counter(joined + sorted(held))
    assert all(e["label"] == first[e["id"]] for e in examples if e["id"] in first)
    # the example of partition i is on partition i (what a restarted joiner reads back)
    assert all(where[orjson.loads(r.value)["id"]] == r.partition
               for r in read_all(fb.training_topic))
