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
