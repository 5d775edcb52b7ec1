"""Workers that crash the same way again and again: what a crash says, which restarts were
crashes, and when they are a loop that must stop the pipeline. Pure functions.

A crashed loop tells its reason (:func:`crash_text`, ``WorkerStats.crashed``) before its
process ends and Ray restarts it; a restart the driver sees without a reason (the process was
killed, ran out of memory, or died in native code) counts under :data:`DIED_UNSAID`.

>>> crashes = [Crash("w-0", "KeyError: 'label'", at) for at in (0.0, 20.0, 40.0)]
>>> crash_loop(crashes, now=41.0, max_crashes=3, window_s=60.0)
("KeyError: 'label'", 3)
>>> crash_loop(crashes, now=70.0, max_crashes=3, window_s=60.0) is None  # one left the window
True
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePath
from traceback import extract_tb

from streaminfer.pipelines.runtime.driver_thread import error_text
from streaminfer.pipelines.runtime.worker_metrics import WorkerStats

#: The reason of a restart whose process said nothing before it ended.
DIED_UNSAID = "the worker process ended without a reason (killed, out of memory, or native code)"

#: A worker's run: its process id and start time (a restarted worker has a new one).
Incarnation = tuple[str, int, float]


@dataclass(frozen=True)
class Crash:
    """One crash of an actor, seen by the driver at ``at`` (Unix time)."""

    actor: str
    reason: str
    at: float


def short_path(filename: str) -> str:
    """A source file as a reader finds it: inside streaminfer (``operators/profile.py``) or
    inside an installed package (``kafka/producer/kafka.py``).

    >>> short_path("/home/u/streaminfer/.venv/lib/python3.11/site-packages/kafka/client.py")
    'kafka/client.py'
    >>> short_path("/srv/app/streaminfer/operators/profile.py")
    'operators/profile.py'
    """
    parts = PurePath(filename).parts
    if "site-packages" in parts:
        parts = parts[len(parts) - parts[::-1].index("site-packages"):]
    if "streaminfer" in parts:
        parts = parts[len(parts) - parts[::-1].index("streaminfer"):]
    return "/".join(parts[-4:])


def _own(filename: str) -> bool:
    """Whether a file is streaminfer's (in a checkout, or installed)."""
    parts = PurePath(filename).parts
    if "site-packages" in parts:
        parts = parts[parts.index("site-packages"):]
    return "streaminfer" in parts


def crash_text(exc: BaseException) -> str:
    """A crash in one line: ``KeyError: 'label' (in operators/profile.py)``, naming the
    deepest frame of streaminfer's own code (else the deepest frame)."""
    frames = extract_tb(exc.__traceback__)
    own = [frame for frame in frames if _own(frame.filename)]
    frame = (own or frames)[-1] if frames else None
    text = error_text(exc)
    return f"{text} (in {short_path(frame.filename)})" if frame is not None else text


def incarnation(stats: WorkerStats) -> Incarnation:
    return stats.worker_id, stats.pid, stats.started_at


def ended_incarnations(last: Mapping[str, WorkerStats],
                       answered: Mapping[str, WorkerStats]) -> list[WorkerStats]:
    """The last counters of the runs that ended: an actor that answered from a new
    incarnation (Ray restarted it) ended the run ``last`` holds for it.

    >>> old, new = WorkerStats("w", pid=1, events_in=7), WorkerStats("w", pid=2, events_in=1)
    >>> [s.events_in for s in ended_incarnations({"w": old}, {"w": new})]
    [7]
    >>> ended_incarnations({"w": old}, {"w": old})
    []
    """
    return [before for name, now in answered.items()
            if (before := last.get(name)) is not None and incarnation(before) != incarnation(now)]


def new_crashes(last: Mapping[str, WorkerStats], answered: Mapping[str, WorkerStats],
                counted: Iterable[Incarnation], at: float) -> list[tuple[Incarnation, Crash]]:
    """The crashes a reading shows that ``counted`` does not hold yet, each with the run it
    ended: a run that says it crashed (its reason), and a run that ended (its actor answered
    from a new one) without saying so (:data:`DIED_UNSAID`)."""
    seen = set(counted)
    found: list[tuple[Incarnation, Crash]] = []
    for name, now in answered.items():
        before = last.get(name)
        if before is not None and incarnation(before) != incarnation(now):
            ended = incarnation(before)
            if ended not in seen:
                seen.add(ended)
                found.append((ended, Crash(name, before.crashed or DIED_UNSAID, at)))
        if now.crashed is not None and incarnation(now) not in seen:
            seen.add(incarnation(now))
            found.append((incarnation(now), Crash(name, now.crashed, at)))
    return found


def crash_loop(crashes: Iterable[Crash], *, now: float, max_crashes: int,
               window_s: float) -> tuple[str, int] | None:
    """The reason crashes repeat with, and how often, once ``max_crashes`` of them (0: never)
    fell within the last ``window_s``; else ``None``."""
    if max_crashes <= 0:
        return None
    counts = Counter(c.reason for c in crashes if now - c.at <= window_s)
    if not counts:
        return None
    reason, count = counts.most_common(1)[0]
    return (reason, count) if count >= max_crashes else None


def crash_loop_line(reason: str, count: int, window_s: float) -> str:
    """The one line a crash loop stops the pipeline with."""
    return (f"workers crashed {count} times in {window_s:g} s with: {reason}; stopped. Fix "
            "the cause and start again (`streaminfer -v` logs each crash's traceback); "
            "workers.crash_loop sets how many crashes stop the pipeline")
