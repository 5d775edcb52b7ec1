"""The join state: every case counted exactly, first label wins, bounded memory, offsets."""

from __future__ import annotations

from streaminfer.operators.join_state import (
    CASES,
    JoinState,
    RestoreStart,
    commit_offsets,
    labelled_example,
)


def state(max_pending: int = 100, prediction_wait_s: float = 10.0,
          label_wait_s: float = 5.0) -> JoinState:
    return JoinState(prediction_wait_s=prediction_wait_s, label_wait_s=label_wait_s,
                     max_pending=max_pending)


def nonzero(s: JoinState) -> dict[str, int]:
    return {case: n for case, n in s.counts.items() if n}


def test_label_after_prediction_joins_them() -> None:
    s = state()
    assert s.add_prediction("a", "P", partition=1, offset=4, now=0.0) is None
    join = s.add_label("a", "L", partition=1, offset=9, now=1.0)
    assert join is not None and (join.prediction, join.label) == ("P", "L")
    assert join.case == "label_after_prediction"
    assert nonzero(s) == {"label_after_prediction": 1}
    assert s.size == 0 and s.low_offsets() == {}


def test_label_before_prediction_waits_for_it() -> None:
    s = state()
    assert s.add_label("a", "L", partition=0, offset=2, now=0.0) is None
    assert s.low_offsets() == {("label", 0): 2}
    join = s.add_prediction("a", "P", partition=0, offset=7, now=4.9)
    assert join is not None and join.case == "label_before_prediction"
    assert (join.prediction, join.label) == ("P", "L")
    assert nonzero(s) == {"label_before_prediction": 1}


def test_a_prediction_whose_label_never_comes_expires_after_its_window() -> None:
    s = state(prediction_wait_s=10.0)
    s.add_prediction("a", "P", partition=0, offset=0, now=0.0)
    assert s.expire(9.99) == []
    left = s.expire(10.0)
    assert [(e.key, e.value, e.side) for e in left] == [("a", "P", "prediction")]
    assert nonzero(s) == {"expired_prediction": 1}
    assert s.expire(11.0) == []  # each once
    assert s.size == 0 and s.low_offsets() == {}
    # a label after the window: a label without prediction, once its own window passed
    assert s.add_label("a", "L", partition=0, offset=1, now=12.0) is None
    s.expire(17.0)
    assert nonzero(s) == {"expired_prediction": 1, "label_without_prediction": 1}


def test_a_label_for_an_id_never_predicted_is_counted_when_its_window_ends() -> None:
    s = state(label_wait_s=5.0)
    s.add_label("ghost", "L", partition=3, offset=11, now=0.0)
    assert s.expire(4.0) == [] and s.size == 1
    assert s.expire(5.0) == []  # only predictions are returned
    assert nonzero(s) == {"label_without_prediction": 1}
    assert s.size == 0


def test_duplicate_labels_the_first_wins_pending_or_joined() -> None:
    s = state()
    s.add_label("a", "first", partition=0, offset=0, now=0.0)
    assert s.add_label("a", "second", partition=0, offset=1, now=0.1) is None
    join = s.add_prediction("a", "P", partition=0, offset=0, now=0.2)
    assert join is not None and join.label == "first"
    assert s.add_label("a", "third", partition=0, offset=2, now=0.3) is None  # after the join
    assert nonzero(s) == {"label_before_prediction": 1, "duplicate_label": 2}
    assert s.low_offsets() == {}  # a dropped duplicate holds no offset back


def test_a_prediction_scored_twice_is_joined_once() -> None:
    s = state()
    s.add_prediction("a", "P1", partition=0, offset=0, now=0.0)
    assert s.add_prediction("a", "P2", partition=0, offset=1, now=0.0) is None
    join = s.add_label("a", "L", partition=0, offset=0, now=0.0)
    assert join is not None and join.prediction == "P1"
    assert s.add_prediction("a", "P3", partition=0, offset=2, now=0.0) is None
    assert nonzero(s) == {"label_after_prediction": 1, "duplicate_prediction": 2}


def test_when_full_the_oldest_entry_leaves_early_and_is_counted() -> None:
    s = state(max_pending=3, prediction_wait_s=10.0, label_wait_s=5.0)
    s.add_prediction("p1", "P1", partition=0, offset=0, now=0.0)   # deadline 10
    s.add_label("l1", "L1", partition=0, offset=0, now=1.0)        # deadline 6: nearest
    s.add_prediction("p2", "P2", partition=0, offset=1, now=2.0)   # deadline 12
    s.add_prediction("p3", "P3", partition=0, offset=2, now=3.0)   # full: l1 leaves
    assert nonzero(s) == {"evicted_label": 1}
    s.add_prediction("p4", "P4", partition=0, offset=3, now=4.0)   # p1 leaves
    assert nonzero(s) == {"evicted_label": 1, "evicted_prediction": 1}
    assert s.size == 3
    assert [e.key for e in s.expire(4.0)] == ["p1"]  # returned for the unmatched topic
    assert s.low_offsets() == {("prediction", 0): 1}


def test_low_offsets_follow_the_oldest_pending_entry_per_partition() -> None:
    s = state()
    for offset, key in enumerate("abc"):
        s.add_prediction(key, key, partition=0, offset=offset, now=0.0)
    s.add_prediction("z", "z", partition=1, offset=40, now=0.0)
    s.add_label("b", "L", partition=0, offset=5, now=0.0)
    assert s.low_offsets() == {("prediction", 0): 0, ("prediction", 1): 40}
    s.add_label("a", "L", partition=0, offset=6, now=0.0)
    assert s.low_offsets() == {("prediction", 0): 2, ("prediction", 1): 40}
    assert commit_offsets({("prediction", 0): 3, ("prediction", 1): 41, ("label", 0): 7},
                          s.low_offsets()) == {("prediction", 0): 2, ("prediction", 1): 40,
                                               ("label", 0): 7}


def test_joins_of_two_replayed_records_are_fresh_joins() -> None:
    """Records read again whose ids were not restored: their example was never published."""
    s = state()
    s.add_prediction("a", "P", partition=0, offset=0, now=0.0, replayed=True)
    join = s.add_label("a", "L", partition=0, offset=0, now=0.0, replayed=True)
    assert join is not None and join.case == "label_after_prediction"
    s.add_prediction("c", "P", partition=0, offset=2, now=0.0, replayed=True)
    left = s.expire(100.0)
    assert [e.key for e in left] == ["c"]
    assert nonzero(s) == {"label_after_prediction": 1, "replayed_expired": 1}


def test_a_restored_id_is_not_joined_again_and_a_later_label_is_a_duplicate() -> None:
    s = state(label_wait_s=5.0)
    s.restore(["a", "b"], now=0.0)
    assert s.restored == 2
    # read again: the prediction is remembered as joined, nothing pending, no offset held
    assert s.add_prediction("a", "P", partition=0, offset=3, now=1.0, replayed=True) is None
    assert s.size == 0 and s.low_offsets() == {} and s.restored == 1
    # the first label read again, then a second, different one: neither joins
    assert s.add_label("a", "first", partition=0, offset=1, now=1.0, replayed=True) is None
    assert s.add_label("a", "second", partition=0, offset=9, now=2.0) is None
    # an id restored but whose prediction is not read again (committed): a label is a duplicate
    assert s.add_label("b", "second", partition=0, offset=10, now=2.0) is None
    assert nonzero(s) == {"replayed_match": 1, "replayed_label": 1, "duplicate_label": 2}
    assert s.expire(100.0) == [] and s.size == 0


def test_a_restored_id_read_again_without_the_replay_mark_is_a_duplicate_prediction() -> None:
    """A prediction past what the last owner read cannot be the one it joined."""
    s = state()
    s.restore(["a"], now=0.0)
    assert s.add_prediction("a", "P2", partition=0, offset=50, now=0.0) is None
    assert nonzero(s) == {"duplicate_prediction": 1}


def test_restored_ids_are_remembered_for_the_label_window_only() -> None:
    s = state(label_wait_s=5.0)
    s.restore(["a"], now=0.0)
    s.expire(4.9)
    assert s.restored == 1
    s.expire(5.0)
    assert s.restored == 0
    assert s.add_prediction("a", "P", partition=0, offset=0, now=6.0, replayed=True) is None
    assert s.size == 1  # forgotten: waits like any prediction


def test_a_restored_id_outlives_the_pending_bound() -> None:
    """Restored ids are bounded by what the restore read, not by max_pending."""
    s = state(max_pending=10)
    keys = [f"k{i}" for i in range(50)]
    s.restore(keys, now=0.0)
    for i in range(20):  # joins that push the bounded memory of joins
        s.add_prediction(f"n{i}", "P", partition=0, offset=i, now=0.0)
        s.add_label(f"n{i}", "L", partition=0, offset=i, now=0.0)
    assert s.restored == 50
    for i, key in enumerate(keys):
        assert s.add_prediction(key, "P", partition=1, offset=i, now=1.0, replayed=True) is None
    assert s.counts["replayed_match"] == 50 and s.size == 0


def restore_start(committed: int, start: int, replayed_until: int,
                  remember_s: float = 1e9) -> RestoreStart:
    return RestoreStart(committed=committed, start=start, replayed_until=replayed_until,
                        now=0.0, remember_s=remember_s)


def test_restore_start_follows_the_committed_offset() -> None:
    where = restore_start(committed=100, start=7, replayed_until=100, remember_s=10.0)
    assert where.start(100, now=50.0) == 7
    where.note(position=120, end=30, now=51.0)  # predictions from 120 on: examples from 30 on
    where.note(position=120, end=31, now=52.0)  # nothing read since: the later end holds too
    where.note(position=150, end=45, now=53.0)
    assert where.start(119, now=70.0) == 7      # 100..119 may have examples below 30
    assert where.start(120, now=70.0) == 31
    assert where.start(160, now=70.0) == 45
    assert where.start(160, now=70.0) == 45     # older notes are forgotten


def test_restore_start_keeps_the_restored_start_below_the_replay_mark() -> None:
    """Predictions below what the last owner read may be restored ids, whose examples lie
    below anything this joiner produced: until the commit passes the mark, the start stays."""
    where = restore_start(committed=0, start=12, replayed_until=500, remember_s=1.0)
    where.note(position=100, end=60, now=1.0)
    where.note(position=400, end=80, now=2.0)
    assert where.start(450, now=100.0) == 12
    where.note(position=600, end=90, now=101.0)
    assert where.start(550, now=200.0) == 80  # from 500 on: only this joiner's examples
    assert where.start(600, now=200.0) == 90


def test_restore_start_keeps_every_join_younger_than_remember_s() -> None:
    """Nothing pending, everything committed: the start still covers the joins a later
    label may still meet (a duplicate_label after a restart, not a label without
    prediction)."""
    where = restore_start(committed=0, start=5, replayed_until=0, remember_s=60.0)
    where.note(position=10, end=8, now=1.0)     # examples 5..7 published before t=1
    where.note(position=20, end=12, now=30.0)   # 8..11 before t=30
    where.note(position=20, end=12, now=40.0)   # nothing new: no new time note
    assert where.start(20, now=60.5) == 5       # the restored ids (t=0) are still remembered
    assert where.start(20, now=61.5) == 8       # after t=1 + 60: the joins since t=1
    assert where.start(20, now=90.5) == 12      # after t=30 + 60: none left to remember


def test_counts_add_up_over_a_random_stream() -> None:
    import random

    rng = random.Random(7)
    s = state(max_pending=50, prediction_wait_s=3.0, label_wait_s=2.0)
    ids = [f"e{i}" for i in range(400)]
    ops = [("p", i) for i in ids] + [("l", i) for i in rng.sample(ids, 300)]
    ops += [("l", i) for i in rng.sample(ids, 40)]  # duplicates
    rng.shuffle(ops)
    joins = 0
    for step, (kind, key) in enumerate(ops):
        add = s.add_prediction if kind == "p" else s.add_label
        joins += add(key, key, partition=0, offset=step, now=step * 0.01) is not None
        s.expire(step * 0.01)
    s.expire(1e9)
    c = s.counts
    assert set(c) == set(CASES)
    assert joins == c["label_after_prediction"] + c["label_before_prediction"]
    predictions_in = 400
    labels_in = 340
    assert predictions_in == joins + c["expired_prediction"] + c["evicted_prediction"] \
        + c["duplicate_prediction"]
    assert labels_in == joins + c["label_without_prediction"] + c["evicted_label"] \
        + c["duplicate_label"]
    assert s.size == 0


def test_a_labelled_example_holds_the_prediction_and_its_label() -> None:
    prediction = {"id": "e1", "model": "m", "model_version": "v1", "label": 0,
                  "probabilities": [0.7, 0.3], "latency_ms": 4,
                  "source": {"topic": "t", "partition": 0, "offset": 1}, "ts": 1_000,
                  "event_time": 990, "features": {"a": 1.0, "b": 2}}
    example = labelled_example(prediction, 1, 61_000)
    assert example == {
        "id": "e1", "features": {"a": 1.0, "b": 2}, "label": 1,
        "outputs": {"label": 0, "probabilities": [0.7, 0.3]}, "model": "m",
        "model_version": "v1", "predicted_at": 1_000, "labelled_at": 61_000,
        "label_delay_ms": 60_000,
    }
