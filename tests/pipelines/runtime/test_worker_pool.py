"""WorkerPool's bookkeeping without Ray: reading changes nothing; noting keeps what it taught."""

from __future__ import annotations

from typing import Any

from streaminfer.pipelines.online.pool_monitor import PoolMonitor
from streaminfer.pipelines.runtime.actor_pool import Reading
from streaminfer.pipelines.runtime.worker_metrics import WorkerStats
from streaminfer.pipelines.runtime.worker_pool import WorkerPool
from streaminfer.pipelines.spec.schema import PipelineSpec

SPEC = PipelineSpec.model_validate({
    "name": "p", "kafka": {"bootstrap_servers": "k:9092"},
    "source": {"topics": ["t"], "group_id": "g", "features": ["a"]},
    "model": {"path": "m.onnx"}, "sink": {"predictions_topic": "o", "dead_letter_topic": "d"},
})
ASKED = frozenset({"p-worker-0", "p-worker-1"})


def pool() -> WorkerPool:
    return WorkerPool(SPEC, "k:9092", {}, source_partitions=2)


def test_stats_of_a_reading_change_nothing() -> None:
    workers = pool()
    reading = Reading({"p-worker-0": WorkerStats("p-worker-0", 1, events_in=5)},
                      frozenset({"p-worker-1"}), ASKED)
    stats = workers.stats(reading)
    assert (stats.events_in, stats.workers_expected, stats.workers_dead) == (5, 2, 1)
    empty = workers.stats(Reading(asked=ASKED))
    assert (empty.events_in, empty.workers_dead) == (0, 0)  # nothing was kept


def test_noted_counters_stand_in_for_a_silent_worker_and_deaths_are_kept() -> None:
    workers = pool()
    workers.note(Reading({"p-worker-0": WorkerStats("p-worker-0", 1, events_in=5)},
                         frozenset({"p-worker-1"}), ASKED))
    later = workers.stats(Reading({"p-worker-0": WorkerStats("p-worker-0", 1, events_in=7)},
                                  asked=ASKED))
    assert (later.events_in, later.workers_dead) == (7, 1)
    silent = workers.stats(Reading(asked=ASKED))
    assert (silent.events_in, silent.workers_dead) == (5, 1)


class FakePool:
    def __init__(self) -> None:
        self.noted: list[Reading] = []
        self.families_asked: list[bool] = []

    def read(self, *, families: bool = False) -> Reading:
        self.families_asked.append(families)
        return Reading({"w": WorkerStats("w", 1, families=["f"])}, asked=frozenset({"w"}))

    def note(self, reading: Reading) -> None:
        self.noted.append(reading)


def test_the_monitor_notes_and_asks_for_families_only_with_metrics() -> None:
    fake: Any = FakePool()
    PoolMonitor(fake, None).look()
    assert fake.families_asked == [False] and len(fake.noted) == 1


class TellingActors:
    """:class:`Actors` that only record what they were told (``note`` needs no more)."""

    def __init__(self) -> None:
        self.told: list[tuple[Any, str]] = []

    def tell(self, actor: Any, method: str) -> None:
        self.told.append((actor, method))

    def dead_nodes(self) -> set[str]:
        return set()  # no node lost: a crash counts


def run(name: str, pid: int, events: int, crashed: str | None = None) -> WorkerStats:
    return WorkerStats(name, pid, events_in=events, predictions=events,
                       dead_letters={"invalid_json": 1}, batches=1, started_at=float(pid),
                       crashed=crashed)


def test_a_restarted_worker_keeps_its_earlier_runs_counts_in_the_totals() -> None:
    workers = pool()
    workers.note(Reading({"p-worker-0": run("p-worker-0", 1, 50),
                          "p-worker-1": run("p-worker-1", 2, 30)}, asked=ASKED))
    restarted = Reading({"p-worker-0": run("p-worker-0", 3, 5),
                         "p-worker-1": run("p-worker-1", 2, 40)}, asked=ASKED)
    before_noting = workers.stats(restarted)  # a reading not noted yet counts the same
    workers.note(restarted)
    for stats in (before_noting, workers.stats(restarted), workers.stats(Reading(asked=ASKED))):
        assert (stats.events_in, stats.predictions, stats.dead_letters, stats.batches,
                stats.restarts) == (95, 95, 3, 3, 1)
    again = Reading({"p-worker-0": run("p-worker-0", 4, 2),
                     "p-worker-1": run("p-worker-1", 2, 40)}, asked=ASKED)
    workers.note(again)
    assert (workers.stats(again).events_in, workers.stats(again).restarts) == (97, 2)
    assert len(workers.stats(again).workers) == 2  # one row per worker, its current run


def test_a_crash_is_noted_once_and_the_worker_told_it_was_heard() -> None:
    workers = pool()
    fake = TellingActors()
    workers.actors._ray = fake  # type: ignore[assignment]
    workers.actors._actors = {"p-worker-0": "handle-0"}
    workers.note(Reading({"p-worker-0": run("p-worker-0", 1, 10)}, asked=ASKED))
    said = Reading({"p-worker-0": run("p-worker-0", 1, 12, crashed="E: x (in a.py)")},
                   asked=ASKED)
    assert [c.reason for c in workers.note(said)] == ["E: x (in a.py)"]
    assert fake.told == [("handle-0", "crash_read")]
    assert workers.note(said) == []  # the same run says it again: counted once
    assert workers.note(Reading({"p-worker-0": run("p-worker-0", 2, 1)}, asked=ASKED)) == []
    assert workers.stats(Reading(asked=ASKED)).events_in == 13
