"""The autoscaler's rules, pure: lag measurements over time in, a decision out.

:func:`observe` folds a measurement into per-partition states; :func:`decide` says how many
workers there should be, and why. They take the time as an argument, so tests drive them with
fake numbers and a fake clock. The rules are described in :mod:`.autoscaler`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from streaminfer.operators.partition_lag import Partition, PartitionLag, partition_name
from streaminfer.pipelines.spec.schema import WorkerAutoscaleSpec

Direction = Literal["up", "down", "hold"]


@dataclass(frozen=True)
class PartitionState:
    """What the autoscaler remembers of one partition between measurements."""

    committed: int | None
    lag: int
    still_since: float
    """Since when the partition has had lag at this same committed offset (the time of the
    latest measurement when it has no lag, or its offset moved)."""

    def stuck(self, now: float, stuck_after_s: float) -> bool:
        return self.lag > 0 and now - self.still_since >= stuck_after_s


def observe(
    previous: Mapping[Partition, PartitionState],
    measured: Mapping[Partition, PartitionLag],
    now: float,
) -> dict[Partition, PartitionState]:
    """Fold one measurement into the per-partition states.

    A partition's clock restarts whenever its committed offset moves or its lag is zero: only
    lag that sits at an unmoving offset ages towards "stuck".
    """
    states = {}
    for tp, m in measured.items():
        before = previous.get(tp)
        still = (before is not None and m.lag > 0 and before.lag > 0
                 and before.committed == m.committed)
        states[tp] = PartitionState(m.committed, m.lag,
                                    before.still_since if still and before else now)
    return states


@dataclass(frozen=True)
class ScalingDecision:
    """What :func:`decide` concluded, and why."""

    workers: int
    """Workers running when it decided."""
    target: int
    """Workers there should be now (``workers`` when it holds)."""
    desired: int
    """Workers the lag alone asks for (within the bounds), before any cooldown."""
    direction: Direction
    rule: str
    """Short, fixed label of the rule that decided (the metric's ``reason``)."""
    reason: str
    """The decision in words, with the numbers."""
    lag: int
    """Lag of every partition."""
    counted_lag: int
    """Lag that drives scaling: every partition but the stuck ones."""
    stuck: tuple[Partition, ...] = ()

    @property
    def lag_per_worker(self) -> float:
        return self.counted_lag / max(1, self.workers)


def bounds(spec: WorkerAutoscaleSpec, partitions: int) -> tuple[int, int]:
    """(fewest, most) workers: ``min_workers`` .. ``max_workers``, never above the partition
    count (when ``min_workers`` exceeds the partitions, the partitions win: the extra workers
    would own nothing)."""
    most = max(1, min(spec.max_workers, partitions))
    return min(spec.min_workers, most), most


def decide(
    states: Mapping[Partition, PartitionState], *, now: float, workers: int,
    partitions: int, last_change_at: float | None, spec: WorkerAutoscaleSpec,
) -> ScalingDecision:
    """How many workers there should be now. Pure: no I/O, the time is an argument.

    ``last_change_at`` is when the worker count last changed (the autoscaler's start counts);
    ``None`` means never, and no cooldown applies.
    """
    fewest, most = bounds(spec, partitions)
    stuck = tuple(sorted((tp for tp, s in states.items() if s.stuck(now, spec.stuck_after_s)),
                         key=lambda tp: (tp.topic, tp.partition)))
    lag = sum(s.lag for s in states.values())
    counted = lag - sum(states[tp].lag for tp in stuck)
    note = ""
    if stuck:
        note = ("; not counting stuck " + ", ".join(
            f"{partition_name(tp)} (lag {states[tp].lag} at offset {states[tp].committed})"
            for tp in stuck))
    case = _Case(spec, workers, partitions, fewest, most, counted,
                 math.inf if last_change_at is None else now - last_change_at)

    def made(target: int, desired: int, direction: Direction, rule: str,
             why: str) -> ScalingDecision:
        return ScalingDecision(workers, target, desired, direction, rule, why + note, lag,
                               counted, stuck)

    if workers < fewest:
        return made(fewest, fewest, "up", "below_min_workers",
                    f"{workers} worker(s) is below the minimum {fewest}")
    if workers > most:
        return made(most, most, "down", "above_max_workers",
                    f"{workers} worker(s) is above the maximum {most} "
                    f"(max_workers {spec.max_workers}, {partitions} partitions)")
    if case.per_worker > spec.target_lag_per_worker:
        return made(*_scale_up(case))
    if case.per_worker < spec.scale_down_below * spec.target_lag_per_worker:
        return made(*_scale_down(case))
    return made(workers, workers, "hold", "within_band",
                f"{case.load} is within {case.low:g}..{spec.target_lag_per_worker} "
                "(hysteresis band)")


_Verdict = tuple[int, int, Direction, str, str]  # target, desired, direction, rule, why


@dataclass(frozen=True)
class _Case:
    """The numbers one decision weighs."""

    spec: WorkerAutoscaleSpec
    workers: int
    partitions: int
    fewest: int
    most: int
    counted: int
    since: float  # seconds since the last change

    @property
    def per_worker(self) -> float:
        return self.counted / max(1, self.workers)

    @property
    def low(self) -> float:
        return self.spec.scale_down_below * self.spec.target_lag_per_worker

    @property
    def load(self) -> str:
        return (f"lag {self.counted} over {self.workers} worker(s) = {self.per_worker:.0f} "
                "per worker")


def _scale_up(c: _Case) -> _Verdict:
    """Lag per worker above the target: enough workers for the lag, after the cooldown."""
    spec, workers, target = c.spec, c.workers, c.spec.target_lag_per_worker
    wanted = math.ceil(c.counted / target)
    desired = min(c.most, max(c.fewest, wanted))
    if desired <= workers:
        return (workers, workers, "hold", "at_max_workers",
                f"{c.load} > target {target}, but {workers} is the most "
                f"(max_workers {spec.max_workers}, {c.partitions} partitions)")
    left = spec.scale_up_cooldown_s - c.since
    if left > 0:
        return (workers, desired, "hold", "scale_up_cooldown",
                f"{c.load} > target {target}; {desired} wanted, but the scale-up "
                f"cooldown has {left:.1f}s left")
    capped = "" if desired == wanted else (
        f" (wants {wanted}, capped at "
        f"{'max_workers' if c.most == spec.max_workers else 'the partition count'} {c.most})")
    return (desired, desired, "up", "lag_above_target",
            f"{c.load} > target {target}: {workers} -> {desired}{capped}")


def _scale_down(c: _Case) -> _Verdict:
    """Lag per worker below the threshold: one worker fewer, after the cooldown."""
    spec, workers = c.spec, c.workers
    below = (f"{c.load} < {c.low:g} ({spec.scale_down_below:g} x target "
             f"{spec.target_lag_per_worker})")
    if workers <= c.fewest:
        return workers, workers, "hold", "at_min_workers", f"{below}, but {workers} is the fewest"
    left = spec.scale_down_cooldown_s - c.since
    if left > 0:
        return (workers, workers - 1, "hold", "scale_down_cooldown",
                f"{below}; the scale-down cooldown has {left:.1f}s left")
    return (workers - 1, workers - 1, "down", "lag_below_threshold",
            f"{below}: {workers} -> {workers - 1}")
