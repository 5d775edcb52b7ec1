"""Notice a pipeline that stopped reading while events wait for it, and say what to do.

The embedded broker slows to a stop when a partition holds too many record batches (see
docs/operations.md); without this, the live view would just show the counters standing still.

>>> watch = StallWatch(after_s=30)
>>> watch.update(0.0, events_in=100, lag=0), watch.update(40.0, events_in=100, lag=0)
(None, None)
>>> watch.update(41.0, events_in=100, lag=500)             # idle until now: no stall yet
>>> watch.update(72.0, events_in=102, lag=900)             # 2 read in 31 s, 900 waiting
Stall(seconds=31.0, read=2, waiting=900)
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Stall:
    """Only ``read`` events were read in the last ``seconds`` while ``waiting`` events sat in
    the source topics all along."""

    seconds: float
    read: int
    waiting: int


class StallWatch:
    """Fed the read counter and the lag now and then; tells when, for ``after_s``, events
    waited all along and less than ``min_share`` of them was read: a broker that stopped
    answering (or answers a trickle) or workers that stopped reading. A pipeline that reads
    fast but falls behind is not stalled; that is the autoscaler's business."""

    def __init__(self, after_s: float = 30.0, min_share: float = 0.01) -> None:
        self.after_s = after_s
        self.min_share = min_share
        self.stall: Stall | None = None
        self._samples: deque[tuple[float, int]] = deque()  # (when, events read by then)

    def update(self, now: float, events_in: int, lag: int) -> Stall | None:
        """The stall going on at ``now`` (``None`` while reading keeps up or nothing waits)."""
        if lag <= 0:  # nothing waits: idle, not stalled
            self._samples.clear()
            self.stall = None
            return None
        self._samples.append((now, events_in))
        while len(self._samples) > 1 and now - self._samples[1][0] >= self.after_s:
            self._samples.popleft()
        since, read_then = self._samples[0]
        read = events_in - read_then
        stalled = now - since >= self.after_s and read < lag * self.min_share
        self.stall = Stall(now - since, read, lag) if stalled else None
        return self.stall


def stall_message(stall: Stall, *, embedded: bool) -> str:
    """One line that says what happened and what to do."""
    read = "no events" if stall.read == 0 else f"only {stall.read:,} events"
    head = (f"{read} read in {stall.seconds:.0f}s while {stall.waiting:,} wait in the "
            "source topics: ")
    if embedded:
        return head + (
            "the embedded broker has slowed to a stop (it lists every record batch a "
            "partition holds on each read, and many small batches make that too slow). "
            "Restart the pipeline (the embedded broker starts empty) or use a real Kafka "
            "(docker compose -f docker/compose.yaml up -d kafka: localhost:9092); see "
            "docs/operations.md"
        )
    return head + ("the workers are stuck or Kafka does not answer their fetches; check the "
                   "broker and the worker log lines above (a `streaminfer broker` slows to a stop "
                   "once its partitions hold too many record batches: see docs/operations.md)")
