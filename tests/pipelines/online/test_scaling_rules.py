"""The autoscaler's rules (``scaling_rules``: pure) on fake numbers and a fake clock.

The controller around them is in test_autoscaler.py; the real probe and a real pipeline in
test_lag_probe.py and test_autoscaler_integration.py.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import pytest
from kafka import TopicPartition

from streaminfer.pipelines.online.scaling_rules import (
    PartitionState,
    ScalingDecision,
    bounds,
    decide,
    observe,
)
from tests.fixtures.autoscaling import autoscale_spec as spec
from tests.fixtures.autoscaling import lag_of as _lag
from tests.fixtures.autoscaling import tp


def states(lags: Mapping[int, int], *, since: float = 1000.0,
           committed: Mapping[int, int] | None = None) -> dict[TopicPartition, PartitionState]:
    """Partitions with these lags, each lagging at an unmoving offset since ``since``."""
    committed = committed or {}
    return {tp(p): PartitionState(committed.get(p, 0), lag, since) for p, lag in lags.items()}


def run(lags: Mapping[int, int], *, workers: int, partitions: int = 4,
        now: float = 1000.0, last_change_at: float | None = 0.0,
        st: Mapping[TopicPartition, PartitionState] | None = None,
        **changes: Any) -> ScalingDecision:
    return decide(st if st is not None else states(lags, since=now), now=now, workers=workers,
                  partitions=partitions, last_change_at=last_change_at, spec=spec(**changes))


# ---------------------------------------------------------------- scaling up


def test_lag_above_target_adds_enough_workers_for_the_lag() -> None:
    d = run({0: 100, 1: 100, 2: 50, 3: 0}, workers=1)  # 250 per worker, target 100
    assert (d.direction, d.target, d.rule) == ("up", 3, "lag_above_target")
    assert d.lag == d.counted_lag == 250
    assert "lag 250 over 1 worker(s) = 250 per worker > target 100: 1 -> 3" in d.reason


def test_scale_up_is_capped_at_max_workers() -> None:
    d = run({p: 5_000 for p in range(8)}, workers=1, partitions=8, max_workers=4)
    assert (d.direction, d.target) == ("up", 4)
    assert "wants 400, capped at max_workers 4" in d.reason


def test_scale_up_never_exceeds_the_partition_count() -> None:
    d = run({0: 5_000, 1: 5_000, 2: 5_000}, workers=1, partitions=3, max_workers=16)
    assert (d.direction, d.target) == ("up", 3)
    assert "capped at the partition count 3" in d.reason


def test_at_the_most_workers_high_lag_holds() -> None:
    d = run({p: 5_000 for p in range(4)}, workers=4)
    assert (d.direction, d.target, d.rule) == ("hold", 4, "at_max_workers")


def test_scale_up_waits_for_its_cooldown_after_any_change() -> None:
    lags = {0: 300, 1: 0, 2: 0, 3: 0}
    held = run(lags, workers=1, now=1000.0, last_change_at=991.0)  # 9 s < 10 s
    assert (held.direction, held.target, held.desired) == ("hold", 1, 3)
    assert held.rule == "scale_up_cooldown" and "cooldown has 1.0s left" in held.reason
    assert run(lags, workers=1, now=1000.0, last_change_at=990.0).target == 3  # 10 s: due


def test_never_changed_means_no_cooldown() -> None:
    assert run({0: 300}, workers=1, last_change_at=None, partitions=4).target == 3


# ---------------------------------------------------------------- the hysteresis band


@pytest.mark.parametrize("per_worker", [20, 21, 60, 99, 100])
def test_between_the_thresholds_nothing_changes(per_worker: int) -> None:
    # 2 workers; scale up above 100 per worker, down below 0.2 x 100 = 20.
    d = run({0: per_worker, 1: per_worker, 2: 0, 3: 0}, workers=2)
    assert (d.direction, d.target, d.rule) == ("hold", 2, "within_band")


def test_just_outside_the_band_changes() -> None:
    assert run({0: 101, 1: 101}, workers=2).direction == "up"
    assert run({0: 19, 1: 19}, workers=2).direction == "down"


def test_a_steady_lag_settles_after_one_change_and_does_not_flap() -> None:
    """A fixed lag of 150 with target 100: 1 worker is too few, 2 sit in the band."""
    workers, last_change, changes = 1, 0.0, []
    for second in range(1, 600):
        now = float(second)
        d = run({0: 75, 1: 75, 2: 0, 3: 0}, workers=workers, now=now,
                last_change_at=last_change, scale_up_cooldown_s=5, scale_down_cooldown_s=5)
        if d.target != workers:
            changes.append((now, workers, d.target))
            workers, last_change = d.target, now
    assert changes == [(5.0, 1, 2)]


def test_a_burst_rises_then_drains_one_worker_at_a_time() -> None:
    """A fake pipeline whose workers each drain 400 records/s: up quickly, down slowly."""
    cfg: dict[str, Any] = {"scale_up_cooldown_s": 2, "scale_down_cooldown_s": 10}
    lag, workers, last_change, history = 20_000, 1, 0.0, []
    for tick in range(1, 400):
        now = tick * 0.5
        lag = max(0, lag - workers * 200)
        d = run({0: lag}, workers=workers, now=now, last_change_at=last_change, **cfg)
        if d.target != workers:
            history.append((now, workers, d.target, d.direction))
            workers, last_change = d.target, now
    assert history[0] == (2.0, 1, 4, "up")  # straight to the most, after the first cooldown
    downs = history[1:]
    assert [(a, b) for _, a, b, _ in downs] == [(4, 3), (3, 2), (2, 1)]
    assert all(later[0] - earlier[0] >= 10 for earlier, later in itertools.pairwise(history))
    assert workers == 1


# ---------------------------------------------------------------- scaling down


def test_low_lag_removes_one_worker_at_a_time() -> None:
    d = run({p: 0 for p in range(4)}, workers=4)
    assert (d.direction, d.target, d.rule) == ("down", 3, "lag_below_threshold")
    assert "4 -> 3" in d.reason


def test_scale_down_waits_for_its_cooldown_after_any_change() -> None:
    lags = {p: 0 for p in range(4)}
    held = run(lags, workers=3, now=1000.0, last_change_at=975.0)  # 25 s < 30 s
    assert (held.direction, held.target, held.rule) == ("hold", 3, "scale_down_cooldown")
    assert run(lags, workers=3, now=1000.0, last_change_at=970.0).target == 2


def test_never_below_min_workers() -> None:
    d = run({p: 0 for p in range(4)}, workers=2, min_workers=2)
    assert (d.direction, d.target, d.rule) == ("hold", 2, "at_min_workers")


def test_below_min_workers_is_corrected_at_once() -> None:
    d = run({p: 0 for p in range(4)}, workers=1, min_workers=2, last_change_at=999.0)
    assert (d.direction, d.target, d.rule) == ("up", 2, "below_min_workers")


def test_above_max_workers_is_corrected_at_once() -> None:
    d = run({p: 0 for p in range(4)}, workers=6, max_workers=3, last_change_at=999.0)
    assert (d.direction, d.target, d.rule) == ("down", 3, "above_max_workers")


def test_scale_down_below_zero_never_removes_workers() -> None:
    assert run({0: 0}, workers=3, scale_down_below=0).direction == "hold"


def test_bounds_never_exceed_partitions_even_with_a_larger_minimum() -> None:
    assert bounds(spec(min_workers=1, max_workers=4), 8) == (1, 4)
    assert bounds(spec(min_workers=1, max_workers=4), 2) == (1, 2)
    assert bounds(spec(min_workers=6, max_workers=8), 4) == (4, 4)


# ---------------------------------------------------------------- stuck partitions


def test_a_stuck_partition_does_not_drive_scale_up() -> None:
    st = states({0: 50_000, 1: 0, 2: 0, 3: 0}, since=900.0)  # 100 s at the same offset
    d = run({}, st=st, workers=1, now=1000.0)
    assert d.stuck == (tp(0),)
    assert (d.lag, d.counted_lag) == (50_000, 0)
    assert (d.direction, d.target) == ("hold", 1)
    assert "not counting stuck events/0 (lag 50000 at offset 0)" in d.reason


def test_a_stuck_partition_does_not_keep_workers_up() -> None:
    st = states({0: 50_000, 1: 0, 2: 0, 3: 0}, since=900.0)
    d = run({}, st=st, workers=3, now=1000.0)
    assert (d.direction, d.target) == ("down", 2)


def test_other_partitions_lag_still_counts_beside_a_stuck_one() -> None:
    st = states({0: 50_000}, since=900.0) | states({1: 150, 2: 150}, since=1000.0)
    d = run({}, st=st, workers=1, now=1000.0)
    assert d.stuck == (tp(0),) and d.counted_lag == 300
    assert (d.direction, d.target) == ("up", 3)


def test_lag_is_stuck_only_after_stuck_after_s() -> None:
    st = states({0: 50_000}, since=971.0)  # 29 s
    d = run({}, st=st, workers=1, now=1000.0)
    assert d.stuck == () and d.direction == "up"


def test_observe_keeps_the_clock_while_the_offset_stays_and_there_is_lag() -> None:
    s = observe({}, {tp(0): _lag(10, 5)}, now=0.0)
    s = observe(s, {tp(0): _lag(10, 50)}, now=20.0)
    s = observe(s, {tp(0): _lag(10, 500)}, now=40.0)
    assert s[tp(0)] == PartitionState(10, 500, 0.0)
    assert s[tp(0)].stuck(40.0, 30.0) and not s[tp(0)].stuck(29.0, 30.0)


def test_observe_restarts_the_clock_when_the_offset_moves() -> None:
    s = observe({}, {tp(0): _lag(10, 5)}, now=0.0)
    s = observe(s, {tp(0): _lag(11, 5)}, now=20.0)
    s = observe(s, {tp(0): _lag(11, 5)}, now=40.0)
    assert s[tp(0)].still_since == 20.0 and not s[tp(0)].stuck(40.0, 30.0)


def test_an_idle_partition_does_not_age_into_stuck() -> None:
    """No lag for an hour at the same offset, then one record: not stuck at once."""
    s = observe({}, {tp(0): _lag(10, 0)}, now=0.0)
    s = observe(s, {tp(0): _lag(10, 0)}, now=3600.0)
    s = observe(s, {tp(0): _lag(10, 1)}, now=3601.0)
    assert s[tp(0)].still_since == 3601.0 and not s[tp(0)].stuck(3602.0, 30.0)


def test_a_partition_never_committed_with_lag_can_be_stuck() -> None:
    s = observe({}, {tp(0): _lag(None, 7)}, now=0.0)
    s = observe(s, {tp(0): _lag(None, 9)}, now=31.0)
    assert s[tp(0)].stuck(31.0, 30.0)


