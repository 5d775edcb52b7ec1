"""Keep the garbage collector's passes short and rare in long-running scoring processes."""

from __future__ import annotations

import gc

#: Tracked objects allocated (less those freed) before a young collection: Python's 700 is
#: crossed by one micro-batch's objects alive at once, so a worker on a backlog collected
#: every ~140 events, 7% of its loop; from 2,000 up almost never (docs/decisions.md).
YOUNG_THRESHOLD = 10_000


def freeze_heap() -> None:
    """Move every object alive now out of the collector's reach, once setup is done, and
    collect the young generation only every :data:`YOUNG_THRESHOLD` objects.

    A Ray worker holds a large heap of long-lived objects (Ray, gRPC, NumPy, ONNX Runtime,
    the model). At thousands of events per second a full collection ran every ~3 s and
    scanned all of them: 45-55 ms with the scoring loop stopped, which set the p99 latency.
    Frozen, they are never scanned again; what the loop allocates is still collected.
    docs/decisions.md has the measurements.
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
