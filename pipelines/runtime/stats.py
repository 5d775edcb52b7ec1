"""What a running pipeline reports: its workers' counters, summed.

A worker Ray restarted counts from 0 again; the last counters of its earlier runs are kept in
:attr:`PipelineStats.earlier` and added to the totals, so a restart drops none.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from streaminfer.pipelines.runtime.driver_thread import ThreadError
from streaminfer.pipelines.runtime.worker_metrics import WorkerStats, quantile


@dataclass
class PipelineStats:
    """The pipeline's counters, summed over the workers that answered."""

    workers: list[WorkerStats] = field(default_factory=list)
    workers_expected: int = 0
    workers_dead: int = 0
    #: The last error of each driver thread that has had one (it kept going).
    thread_errors: list[ThreadError] = field(default_factory=list)
    #: The last counters of the workers' runs that ended in a restart (counted in the totals).
    earlier: list[WorkerStats] = field(default_factory=list)

    @property
    def runs(self) -> list[WorkerStats]:
        """Every run's counters: the workers' current runs and their earlier ones."""
        return self.workers + self.earlier

    @property
    def restarts(self) -> int:
        """Worker runs that ended in a restart."""
        return len(self.earlier)

    @property
    def events_in(self) -> int:
        return sum(w.events_in for w in self.runs)

    @property
    def predictions(self) -> int:
        return sum(w.predictions for w in self.runs)

    @property
    def dead_letters(self) -> int:
        return sum(w.dead_letter_total for w in self.runs)

    @property
    def batches(self) -> int:
        return sum(w.batches for w in self.runs)

    @property
    def model_batch_failures(self) -> int:
        return sum(w.model_batch_failures for w in self.runs)

    @property
    def truncated_texts(self) -> int:
        """Texts cut to the tokenizer's max_length (model.tokenizer)."""
        return sum(w.truncated_texts for w in self.runs)

    @property
    def dead_letters_by_reason(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for w in self.runs:
            for reason, count in w.dead_letters.items():
                out[reason] = out.get(reason, 0) + count
        return out

    @property
    def assigned(self) -> set[str]:
        """Partitions (``topic/partition``) some worker owns now."""
        return {tp for w in self.workers for tp in w.assigned}

    @property
    def lag(self) -> int:
        return sum(sum(w.lag.values()) for w in self.workers)

    def latency_ms(self, q: float) -> float | None:
        """A quantile of the workers' recent end-to-end latencies."""
        return quantile([v for w in self.workers for v in w.recent_latency_ms], q)
