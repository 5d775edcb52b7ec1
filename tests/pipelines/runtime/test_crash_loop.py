"""The crash-loop logic: what a crash says, which restarts were crashes, when they loop."""

from __future__ import annotations

import pytest

from streaminfer.operators.profile import Bins
from streaminfer.pipelines.runtime.crash_loop import (
    DIED_UNSAID,
    NODE_LOST,
    Crash,
    CrashWatch,
    crash_loop,
    crash_loop_line,
    crash_text,
    ended_incarnations,
    new_crashes,
    short_path,
)
from streaminfer.pipelines.runtime.worker_metrics import WorkerStats


def test_a_crash_names_its_error_and_the_deepest_frame_of_streaminfer() -> None:
    with pytest.raises(KeyError) as caught:
        Bins.from_json({})  # a real error from inside operators/
    assert crash_text(caught.value) == "KeyError: 'name' (in operators/profile.py)"


def test_a_crash_outside_streaminfer_names_the_deepest_frame() -> None:
    import json

    with pytest.raises(ValueError) as caught:
        json.loads("{")
    assert crash_text(caught.value).endswith("json/decoder.py)")


def test_a_crash_raised_from_another_names_the_cause_and_its_frame() -> None:
    def callback() -> None:
        Bins.from_json({})

    with pytest.raises(RuntimeError) as caught:
        try:
            callback()  # what a library (kafka-python's rebalance) calls, then wraps
        except KeyError as exc:
            raise RuntimeError("User rebalance callback throws an error") from exc
    assert crash_text(caught.value) == ("RuntimeError: User rebalance callback throws an "
                                        "error, from KeyError: 'name' (in operators/profile.py)")


@pytest.mark.parametrize(("path", "short"), [
    ("/x/.venv/lib/python3.11/site-packages/kafka/producer/kafka.py", "kafka/producer/kafka.py"),
    ("/x/.venv/lib/python3.11/site-packages/streaminfer/operators/drift.py", "operators/drift.py"),
    ("/home/me/streaminfer/pipelines/kafka/sink.py", "pipelines/kafka/sink.py"),
    ("/home/me/streaminfer/.venv/lib/site-packages/ray/actor.py", "ray/actor.py"),
    ("/elsewhere/a/b/c/d/e.py", "b/c/d/e.py"),
])
def test_short_paths(path: str, short: str) -> None:
    assert short_path(path) == short


def run(pid: int, events: int = 0, crashed: str | None = None, node: str = "") -> WorkerStats:
    return WorkerStats("w", pid, events_in=events, started_at=float(pid), crashed=crashed,
                       node_id=node)


def test_a_restart_ends_a_run_and_the_same_run_does_not() -> None:
    assert ended_incarnations({"w": run(1, 7)}, {"w": run(2, 1)}) == [run(1, 7)]
    assert ended_incarnations({"w": run(1, 7)}, {"w": run(1, 9)}) == []
    assert ended_incarnations({}, {"w": run(1)}) == []


def test_a_crash_is_counted_once_when_it_is_said_and_again_not_at_the_restart() -> None:
    said = new_crashes({"w": run(1)}, {"w": run(1, crashed="KeyError: 'x'")}, [], at=5.0)
    assert [c for _, c in said] == [Crash("w", "KeyError: 'x'", 5.0)]
    counted = [inc for inc, _ in said]
    assert new_crashes({"w": run(1, crashed="KeyError: 'x'")},
                       {"w": run(1, crashed="KeyError: 'x'")}, counted, at=6.0) == []
    assert new_crashes({"w": run(1, crashed="KeyError: 'x'")}, {"w": run(2)}, counted,
                       at=7.0) == []


def test_a_restart_without_a_reason_counts_as_an_unsaid_death() -> None:
    found = new_crashes({"w": run(1)}, {"w": run(2)}, [], at=3.0)
    assert [c.reason for _, c in found] == [DIED_UNSAID]


def test_a_restart_whose_node_died_was_lost_with_it_and_never_loops() -> None:
    asked: list[int] = []

    def dead() -> set[str]:
        asked.append(1)
        return {"n1"}

    found = new_crashes({"w": run(1, node="n1"), "v": run(1, node="n2")},
                        {"w": run(2, node="n3"), "v": run(2, node="n3")}, [], 3.0, dead)
    assert {c.actor: c.reason for _, c in found} == {"w": NODE_LOST, "v": DIED_UNSAID}
    assert asked == [1]  # Ray's nodes asked once a reading, and only for unsaid restarts
    said = new_crashes({"w": run(1, crashed="E: x", node="n1")}, {"w": run(2)}, [], 3.0, dead)
    assert [c.reason for _, c in said] == ["E: x"]  # a crash that said why stays one
    # Six workers lost with two hosts within a minute: no crash loop, the pipeline goes on.
    lost = [Crash(f"w{i}", NODE_LOST, float(i)) for i in range(6)]
    assert crash_loop(lost, now=6.0, max_crashes=3, window_s=60) is None
    watch = CrashWatch("workers", "workers.crash_loop", max_crashes=3, window_s=60)
    assert watch.weigh(lost, now=6.0) is None and watch.failure is None


def test_crashes_loop_once_enough_of_one_reason_fall_in_the_window() -> None:
    same = [Crash(f"w{i}", "E: x", at) for i, at in enumerate((0.0, 10.0, 20.0))]
    assert crash_loop(same, now=20.0, max_crashes=3, window_s=60) == ("E: x", 3)
    assert crash_loop(same, now=61.0, max_crashes=3, window_s=60) is None
    assert crash_loop(same, now=20.0, max_crashes=4, window_s=60) is None
    assert crash_loop(same, now=20.0, max_crashes=0, window_s=60) is None  # 0: never
    mixed = [Crash("w", reason, float(i)) for i, reason in enumerate(("A", "B", "A", "B"))]
    assert crash_loop(mixed, now=4.0, max_crashes=3, window_s=60) is None
    assert crash_loop([], now=0.0, max_crashes=1, window_s=60) is None


def test_the_line_names_count_window_and_reason() -> None:
    line = crash_loop_line("KeyError: 'label' (in operators/profile.py)", 3, 60.0)
    assert line.startswith(
        "workers crashed 3 times in 60 s with: KeyError: 'label' (in operators/profile.py); "
        "stopped. Fix")
    assert "\n" not in line and "workers.crash_loop" in line
