"""Loop actors (workers, joiners) that crash the same way again and again: what a crash says,
which restarts were crashes, and when they are a loop that must stop the pipeline. Pure
logic, no threads: the pools find the crashes, a :class:`CrashWatch` weighs them.

A crashed loop tells its reason (:func:`crash_text`, the counters' ``crashed``) before its
process ends and Ray restarts it; a restart the driver sees without a reason (the process was
killed, ran out of memory, or died in native code) counts under :data:`DIED_UNSAID`, unless
the node the run was on is dead: then the run was lost with its node (:data:`NODE_LOST`, a
host gone or its raylet killed), which says nothing about the code and never counts towards
a crash loop (one host lost with three workers on it would otherwise stop the pipeline).

>>> crashes = [Crash("w-0", "KeyError: 'label'", at) for at in (0.0, 20.0, 40.0)]
>>> crash_loop(crashes, now=41.0, max_crashes=3, window_s=60.0)
("KeyError: 'label'", 3)
>>> crash_loop(crashes, now=70.0, max_crashes=3, window_s=60.0) is None  # one left the window
True
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from traceback import extract_tb
from typing import Protocol, TypeVar

from streaminfer.errors import PipelineError
from streaminfer.pipelines.runtime.driver_thread import error_text

log = logging.getLogger(__name__)

#: The reason of a restart whose process said nothing before it ended.
DIED_UNSAID = "the process ended without a reason (killed, out of memory, or native code)"

#: The reason of a restart whose run was on a node that is dead now.
NODE_LOST = "its node was lost (the host or its raylet went down)"

#: An actor's run: its name, process id and start time (a restarted actor has a new one).
Incarnation = tuple[str, int, float]


class Run(Protocol):
    """What a loop actor's counters say about its run (``WorkerStats``, ``JoinerStats``)."""

    @property
    def pid(self) -> int: ...

    @property
    def started_at(self) -> float: ...

    @property
    def crashed(self) -> str | None: ...

    @property
    def node_id(self) -> str: ...


R = TypeVar("R", bound=Run)


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
    deepest frame of streaminfer's own code (else the deepest frame). An error raised
    *from* another (kafka-python wraps what a rebalance callback raised) names its cause
    too: ``KafkaError: User rebalance callback throws an error, from ValueError: x (in ...)``.
    """
    text = error_text(exc)
    cause = exc.__cause__
    if cause is not None and cause.__traceback__ is not None:
        return f"{text}, from {crash_text(cause)}"
    frames = extract_tb(exc.__traceback__)
    own = [frame for frame in frames if _own(frame.filename)]
    frame = (own or frames)[-1] if frames else None
    return f"{text} (in {short_path(frame.filename)})" if frame is not None else text


def incarnation(name: str, stats: Run) -> Incarnation:
    return name, stats.pid, stats.started_at


def ended_incarnations(last: Mapping[str, R], answered: Mapping[str, R]) -> list[R]:
    """The last counters of the runs that ended: an actor that answered from a new
    incarnation (Ray restarted it) ended the run ``last`` holds for it.

    >>> from streaminfer.pipelines.runtime.worker_metrics import WorkerStats
    >>> old, new = WorkerStats("w", pid=1, events_in=7), WorkerStats("w", pid=2, events_in=1)
    >>> [s.events_in for s in ended_incarnations({"w": old}, {"w": new})]
    [7]
    >>> ended_incarnations({"w": old}, {"w": old})
    []
    """
    return [before for name, now in answered.items()
            if (before := last.get(name)) is not None
            and incarnation(name, before) != incarnation(name, now)]


def new_crashes(last: Mapping[str, Run], answered: Mapping[str, Run],
                counted: Iterable[Incarnation], at: float,
                dead_nodes: Callable[[], Collection[str]] = frozenset,
                ) -> list[tuple[Incarnation, Crash]]:
    """The crashes a reading shows that ``counted`` does not hold yet, each with the run it
    ended: a run that says it crashed (its reason), and a run that ended (its actor answered
    from a new one) without saying so: :data:`NODE_LOST` when its node is among
    ``dead_nodes()`` (asked only then), else :data:`DIED_UNSAID`."""
    seen = set(counted)
    found: list[tuple[Incarnation, Crash]] = []
    dead: Collection[str] | None = None
    for name, now in answered.items():
        before = last.get(name)
        if before is not None and incarnation(name, before) != incarnation(name, now):
            ended = incarnation(name, before)
            if ended not in seen:
                seen.add(ended)
                reason = before.crashed
                if reason is None and before.node_id:
                    dead = dead_nodes() if dead is None else dead
                    reason = NODE_LOST if before.node_id in dead else None
                found.append((ended, Crash(name, reason or DIED_UNSAID, at)))
        if now.crashed is not None and incarnation(name, now) not in seen:
            seen.add(incarnation(name, now))
            found.append((incarnation(name, now), Crash(name, now.crashed, at)))
    return found


def crash_loop(crashes: Iterable[Crash], *, now: float, max_crashes: int,
               window_s: float) -> tuple[str, int] | None:
    """The reason crashes repeat with, and how often, once ``max_crashes`` of them (0: never)
    fell within the last ``window_s``; else ``None``. Runs lost with their node
    (:data:`NODE_LOST`) are no crash of the code: never a loop."""
    if max_crashes <= 0:
        return None
    counts = Counter(c.reason for c in crashes
                     if now - c.at <= window_s and c.reason != NODE_LOST)
    if not counts:
        return None
    reason, count = counts.most_common(1)[0]
    return (reason, count) if count >= max_crashes else None


def crash_loop_line(reason: str, count: int, window_s: float, kind: str = "workers",
                    rule: str = "workers.crash_loop") -> str:
    """The one line a crash loop stops the pipeline with (``kind``: who crashed; ``rule``:
    the YAML field that sets when)."""
    return (f"{kind} crashed {count} times in {window_s:g} s with: {reason}; stopped. Fix "
            "the cause and start again (`streaminfer -v` logs each crash's traceback); "
            f"{rule} sets how many crashes stop the pipeline")


@dataclass
class CrashWatch:
    """Weighs the crashes of one kind of actor (``kind``, e.g. "workers") against the rule
    ``max_crashes`` within ``window_s`` (the YAML field ``rule``): keeps the crashes within
    the window, the last one, and the failure once they are a loop.

    >>> watch = CrashWatch("joiners", "feedback.joiners.crash_loop", max_crashes=2,
    ...                    window_s=60.0)
    >>> watch.weigh([Crash("j-0", "E: x", 0.0)], now=0.0) is None
    True
    >>> str(watch.weigh([Crash("j-0", "E: x", 9.0)], now=9.0))[:37]
    'joiners crashed 2 times in 60 s with:'
    """

    kind: str
    rule: str
    max_crashes: int
    window_s: float
    crashes: list[Crash] = field(default_factory=list)  # those within the window
    last: Crash | None = None
    failure: PipelineError | None = None

    def weigh(self, crashes: list[Crash], now: float) -> PipelineError | None:
        """Log each crash; the failure, the first time the crashes form a loop (else None)."""
        for crash in crashes:
            if crash.reason == NODE_LOST:
                log.warning("%s: %s; Ray restarts it on a node with room (max_restarts; "
                            "not counted by %s)", crash.actor, crash.reason, self.rule)
            else:
                log.warning("%s crashed: %s; Ray restarts it (max_restarts)", crash.actor,
                            crash.reason)
        if not crashes:
            return None
        self.last = crashes[-1]
        self.crashes = [c for c in self.crashes + crashes if now - c.at <= self.window_s]
        looping = crash_loop(self.crashes, now=now, max_crashes=self.max_crashes,
                             window_s=self.window_s)
        if looping is None or self.failure is not None:
            return None
        self.failure = PipelineError(crash_loop_line(*looping, self.window_s, self.kind,
                                                     self.rule))
        log.error("%s", self.failure)
        return self.failure
