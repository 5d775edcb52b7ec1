"""The ``sink.delivery`` section: how a batch's outputs are retried until the broker acked them."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from streaminfer.pipelines.spec.base import FrozenModel


class DeliverySpec(FrozenModel):
    """Produce, await every ack, then commit: the retry policy of one batch (online workers,
    feedback joiners and batch jobs writing to topics)."""

    attempts: int = Field(
        3, ge=1, le=1_000,
        description="Produce attempts of one batch where giving up is allowed: a worker or a "
        "feedback joiner that is stopping, a worker losing its partitions (the batch is left "
        "uncommitted and read again by the partitions' next owner), and a batch job's unit "
        "(the job fails). A running worker or joiner retries until the broker acks or it is "
        "stopped.",
    )
    backoff_s: tuple[Annotated[float, Field(ge=0, le=600)], ...] = Field(
        (0.1, 0.5, 1.0, 2.0, 5.0), min_length=1,
        description="Pause after the n-th failed attempt, in seconds (the last one repeats).",
    )
    ack_timeout_s: float = Field(
        120.0, gt=0, le=3_600,
        description="Longest wait for the broker to acknowledge one batch's records; a record "
        "not acknowledged by then fails the attempt.",
    )

    def pause_s(self, attempt: int) -> float:
        """The pause after failed attempt number ``attempt`` (1 for the first)."""
        return self.backoff_s[min(max(attempt, 1), len(self.backoff_s)) - 1]
