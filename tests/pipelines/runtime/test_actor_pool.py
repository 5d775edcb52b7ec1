"""ActorPool's logic with plain objects for actors (how it talks to Ray is ``RayActors``;
the integration tests run it on a real Ray)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from streaminfer.errors import PipelineError
from streaminfer.pipelines.runtime.actor_pool import ActorPool, Reading
from streaminfer.pipelines.runtime.crash_loop import DIED_UNSAID, NODE_LOST
from streaminfer.pipelines.runtime.metrics_server import WorkerFamilies


@dataclass
class Stats:
    name: str
    events: int = 0
    families: list[Any] = field(default_factory=list)
    pid: int = 1
    started_at: float = 0.0
    crashed: str | None = None
    node_id: str = ""


@dataclass
class Plain:
    """An actor as a plain object."""

    name: str
    events: int = 0
    fails_to_start: str | None = None
    killed: bool = False
    pid: int = 1
    crashed: str | None = None
    node_id: str = "n1"
    told: list[str] = field(default_factory=list)


class PlainActors:
    """:class:`Actors` for :class:`Plain` objects."""

    def __init__(self) -> None:
        self.retired: list[str] = []
        self.died: set[str] = set()
        self.before_answer: Any = None  # called inside stats(), to race a retirement
        self.lost_nodes: set[str] = set()

    def ready(self, actors: dict[str, Any]) -> dict[str, str]:
        return {n: a.fails_to_start for n, a in actors.items() if a.fails_to_start}

    def stats(self, actors: dict[str, Any], families: bool) -> tuple[dict[str, Any], set[str]]:
        if self.before_answer is not None:
            self.before_answer()
        answered = {n: Stats(n, a.events, [f"family of {n}"] if families else [], pid=a.pid,
                             crashed=a.crashed, node_id=a.node_id)
                    for n, a in actors.items() if n not in self.died}
        return answered, set(actors) & self.died

    def retire(self, actors: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        self.retired += list(actors)
        return {n: Stats(n, a.events) for n, a in actors.items()}

    def kill(self, actor: Any) -> None:
        actor.killed = True

    def dead_nodes(self) -> set[str]:
        return set(self.lost_nodes)

    def tell(self, actor: Any, method: str) -> None:
        actor.told.append(method)

    def ask(self, actors: dict[str, Any], method: str, args: tuple[Any, ...],
            timeout_s: float) -> dict[str, str]:
        return {n: f"{method}{args}" for n in actors}


class Served:
    """What the endpoint serves: a real WorkerFamilies, read back by actor."""

    def __init__(self) -> None:
        self.families = WorkerFamilies()

    def update(self, actor: str, families: list[Any]) -> None:
        self.families.update(actor, families)

    def forget(self, actor: str) -> None:
        self.families.forget(actor)

    @property
    def actors(self) -> set[str]:
        return self.families.actors


def pool() -> tuple[ActorPool[Stats], PlainActors, Served, dict[str, Plain]]:
    made: dict[str, Plain] = {}
    actors, served = PlainActors(), Served()
    p: ActorPool[Stats] = ActorPool("worker", series=served, actors=actors)

    def maker(name: str) -> Any:
        return lambda: made.setdefault(name, Plain(name))

    p.start({f"w{i}": maker(f"w{i}") for i in range(3)})
    return p, actors, served, made


def test_a_retired_actor_s_series_end_and_its_final_counters_are_kept() -> None:
    p, actors, served, made = pool()
    p.note(p.read(families=True))
    assert served.actors == {"w0", "w1", "w2"}
    made["w2"].events = 7
    p.retire(["w2"], timeout_s=1)
    assert actors.retired == ["w2"] and p.names == ["w0", "w1"]
    assert served.actors == {"w0", "w1"}  # w2's series are gone
    assert p.last()["w2"].events == 7
    p.note(p.read(families=True))
    assert served.actors == {"w0", "w1"}


def test_a_reading_that_races_a_retirement_does_not_bring_its_series_back() -> None:
    p, actors, served, _ = pool()
    # The reading asks w2, which retires before its answer comes back.
    actors.before_answer = lambda: p.retire(["w2"], 1.0)
    reading = p.read(families=True)
    actors.before_answer = None
    assert "w2" in reading.answered and p.names == ["w0", "w1"]
    p.note(reading)
    assert served.actors == {"w0", "w1"}


def test_dead_actors_are_forgotten_with_their_series() -> None:
    p, actors, served, made = pool()
    p.note(p.read(families=True))
    actors.died = {"w1"}
    p.note(p.read(families=True))
    assert p.count == 2 and p.names == ["w0", "w1", "w2"]
    p.forget_dead()
    assert p.names == ["w0", "w2"] and made["w1"].killed and served.actors == {"w0", "w2"}


def test_start_keeps_all_or_none() -> None:
    actors = PlainActors()
    p: ActorPool[Stats] = ActorPool("joiner", actors=actors)
    made = {n: Plain(n, fails_to_start="no CPUs" if n == "j1" else None) for n in ("j0", "j1")}
    with pytest.raises(PipelineError, match=r"joiner\(s\) could not start: j1: no CPUs"):
        p.start({n: (lambda a=a: a) for n, a in made.items()})
    assert p.names == [] and all(a.killed for a in made.values())


def test_reading_changes_nothing_and_current_falls_back_to_the_last_counters() -> None:
    p, _, served, made = pool()
    made["w0"].events = 5
    reading = p.read()
    assert p.last() == {} and served.actors == set()
    p.note(reading)
    silent: Reading[Stats] = Reading(asked=frozenset({"w0", "w1"}))
    assert {n: s.events for n, s in p.current(silent).items()} == {"w0": 5, "w1": 0}
    assert p.ask_all("swap_model", "m", 1.0, timeout_s=1.0) == {
        n: "swap_model('m', 1.0)" for n in ("w0", "w1", "w2")}


def test_an_actor_that_cannot_be_created_takes_the_ones_before_it_down() -> None:
    p: ActorPool[Stats] = ActorPool("worker", actors=PlainActors())
    first = Plain("w0")

    def refused() -> Any:
        raise ValueError("actor name w1 is taken")

    with pytest.raises(ValueError, match="taken"):
        p.start({"w0": lambda: first, "w1": refused})
    assert first.killed and p.names == []


def test_a_reading_finds_each_crash_once_said_or_unsaid_and_tells_the_crashed_it_was_heard(
) -> None:
    p, _, _, made = pool()  # the same pool runs workers, joiners and shadow joiners
    assert p.note(p.read()) == []
    made["w0"].crashed = "KeyError: 'x' (in operators/y.py)"
    (said,) = p.note(p.read())
    assert (said.actor, said.reason) == ("w0", "KeyError: 'x' (in operators/y.py)")
    assert made["w0"].told == ["crash_read"]
    made["w0"].pid, made["w0"].crashed = 2, None  # restarted: the same crash, not again
    made["w1"].pid = 2  # killed and restarted without a word
    (unsaid,) = p.note(p.read())
    assert (unsaid.actor, unsaid.reason) == ("w1", DIED_UNSAID)
    assert p.note(p.read()) == []


def test_a_run_lost_with_its_node_is_told_apart_from_a_crash() -> None:
    p, actors, _, made = pool()
    assert p.note(p.read()) == []
    actors.lost_nodes = {"n1"}  # the host of all three went down; Ray restarted them
    for actor in made.values():
        actor.pid, actor.node_id = 2, "n2"
    assert {(c.actor, c.reason) for c in p.note(p.read())} == {
        ("w0", NODE_LOST), ("w1", NODE_LOST), ("w2", NODE_LOST)}
    made["w0"].pid = 3  # killed on a node that lives: a death without a word
    (unsaid,) = p.note(p.read())
    assert (unsaid.actor, unsaid.reason) == ("w0", DIED_UNSAID)
