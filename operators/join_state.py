"""The joiner's state: predictions waiting for their label, labels waiting for their prediction.

Pure and bounded. Each side waits its own window (counted from when the joiner read the
entry); the first label of an id wins, also across a restart (:meth:`JoinState.restore` takes
the ids whose example is already published); every way an entry leaves is counted in
:attr:`JoinState.counts` under one of :data:`CASES`. When ``max_pending`` entries wait, the
one nearest its deadline (the oldest of either side) leaves early, counted as evicted. The
lowest offset still pending per partition is known, so a joiner commits only what it can
rebuild by reading again.

>>> state = JoinState(prediction_wait_s=60, label_wait_s=60, max_pending=100)
>>> state.add_prediction("e1", b"prediction", partition=0, offset=7, now=0.0)
>>> state.low_offsets()
{('prediction', 0): 7}
>>> join = state.add_label("e1", "label", partition=0, offset=3, now=1.0)
>>> join.prediction, join.label, join.case
(b'prediction', 'label', 'label_after_prediction')
>>> state.low_offsets(), state.counts["label_after_prediction"]
({}, 1)
"""

from __future__ import annotations

import heapq
from collections import Counter, OrderedDict, deque
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

Side = Literal["prediction", "label"]

#: Every way an entry is handled. ``label_after_prediction`` and ``label_before_prediction``
#: are the joins; ``replayed_match`` counts predictions read again after a restart whose example
#: is already published (restored: not joined again), ``replayed_label`` labels read again
#: for an id already joined; ``replayed_expired`` entries read again that expired.
CASES = (
    "label_after_prediction",
    "label_before_prediction",
    "expired_prediction",
    "label_without_prediction",
    "duplicate_label",
    "duplicate_prediction",
    "evicted_prediction",
    "evicted_label",
    "replayed_match",
    "replayed_label",
    "replayed_expired",
)


class Entry:
    """One pending prediction or label."""

    __slots__ = ("deadline", "key", "offset", "partition", "replayed", "side", "value")

    def __init__(self, side: Side, key: Hashable, value: Any, partition: int, offset: int,
                 deadline: float, replayed: bool) -> None:
        self.side: Side = side
        self.key = key
        self.value = value
        self.partition = partition
        self.offset = offset
        self.deadline = deadline
        self.replayed = replayed


@dataclass(frozen=True)
class Join:
    """A prediction and its label, met."""

    prediction: Any
    label: Any
    case: str


class _Offsets:
    """The offsets still pending in one partition: add, remove, lowest."""

    def __init__(self) -> None:
        self._heap: list[int] = []
        self._live: Counter[int] = Counter()

    def add(self, offset: int) -> None:
        self._live[offset] += 1
        heapq.heappush(self._heap, offset)

    def remove(self, offset: int) -> None:
        self._live[offset] -= 1
        if self._live[offset] <= 0:
            del self._live[offset]

    def lowest(self) -> int | None:
        while self._heap and self._heap[0] not in self._live:
            heapq.heappop(self._heap)
        return self._heap[0] if self._heap else None


class JoinState:
    """Pending predictions and labels by key, with deadlines, a bound and case counts."""

    def __init__(self, *, prediction_wait_s: float, label_wait_s: float,
                 max_pending: int) -> None:
        self.wait_s: dict[Side, float] = {"prediction": prediction_wait_s,
                                          "label": label_wait_s}
        self.max_pending = max_pending
        self.pending: dict[Side, OrderedDict[Hashable, Entry]] = {
            "prediction": OrderedDict(), "label": OrderedDict(),
        }
        # Keys joined recently (until a label could still come), to tell a duplicate label
        # from a label without prediction; bounded like the pending entries.
        self._joined: OrderedDict[Hashable, float] = OrderedDict()
        # Keys whose example was published before a restart (restore): bounded by what the
        # restore read, kept label_wait_s from the restore, not by max_pending.
        self._restored: OrderedDict[Hashable, float] = OrderedDict()
        self._offsets: dict[tuple[Side, int], _Offsets] = {}
        self._left: list[Entry] = []  # predictions gone without a label, until expire()
        self.counts: Counter[str] = Counter(dict.fromkeys(CASES, 0))

    @property
    def size(self) -> int:
        """Entries pending, both sides."""
        return len(self.pending["prediction"]) + len(self.pending["label"])

    def restore(self, keys: Iterable[Hashable], now: float) -> None:
        """Ids whose labelled example is already published (read back after a restart): a
        prediction of one read again is not joined again, a later label is a duplicate.
        Remembered ``label_wait_s`` from now (like a join)."""
        deadline = now + self.wait_s["label"]
        for key in keys:
            self._restored[key] = deadline
            self._restored.move_to_end(key)

    @property
    def restored(self) -> int:
        """Restored ids not read again yet, still remembered."""
        return len(self._restored)

    def add_prediction(self, key: Hashable, value: Any, *, partition: int, offset: int,
                       now: float, replayed: bool = False) -> Join | None:
        """A prediction read: joined with its waiting label, or kept until its deadline; one
        whose example is already published (restored) is only remembered as joined."""
        if self._restored.pop(key, None) is not None:
            self.counts["replayed_match" if replayed else "duplicate_prediction"] += 1
            self._remember(key, now)
            return None
        label = self.pending["label"].pop(key, None)
        if label is not None:
            self._release(label)
            return self._join(key, value, label.value, "label_before_prediction", now)
        if key in self.pending["prediction"] or key in self._joined:
            self.counts["duplicate_prediction"] += 1
            return None
        self._keep(Entry("prediction", key, value, partition, offset,
                         now + self.wait_s["prediction"], replayed))
        return None

    def add_label(self, key: Hashable, value: Any, *, partition: int, offset: int,
                  now: float, replayed: bool = False) -> Join | None:
        """A label read: joined with its waiting prediction, or kept until its deadline;
        a second label of a key is dropped (the first wins). One read again (``replayed``)
        for a key already joined was handled before the restart: ``replayed_label``."""
        prediction = self.pending["prediction"].pop(key, None)
        if prediction is not None:
            self._release(prediction)
            return self._join(key, prediction.value, value, "label_after_prediction", now)
        joined = key in self._joined or key in self._restored
        if joined or key in self.pending["label"]:
            self.counts["replayed_label" if joined and replayed else "duplicate_label"] += 1
            return None
        self._keep(Entry("label", key, value, partition, offset,
                         now + self.wait_s["label"], replayed))
        return None

    def expire(self, now: float) -> list[Entry]:
        """Remove the entries whose deadline passed; return the predictions that left
        without a label since the last call (expired or evicted), each once."""
        for side in ("prediction", "label"):
            entries = self.pending[side]
            while entries:
                entry = next(iter(entries.values()))
                if entry.deadline > now:
                    break
                entries.popitem(last=False)
                self._drop(entry, evicted=False)
        for joined in (self._joined, self._restored):
            while joined and next(iter(joined.values())) <= now:
                joined.popitem(last=False)
        left, self._left = self._left, []
        return left

    def low_offsets(self) -> dict[tuple[Side, int], int]:
        """Per (side, partition), the lowest offset still pending (nothing committed may pass
        it, or a restart could not rebuild that entry)."""
        out = {}
        for where, offsets in self._offsets.items():
            lowest = offsets.lowest()
            if lowest is not None:
                out[where] = lowest
        return out

    def _join(self, key: Hashable, prediction: Any, label: Any, case: str,
              now: float) -> Join:
        self.counts[case] += 1
        self._remember(key, now)
        return Join(prediction, label, case)

    def _remember(self, key: Hashable, now: float) -> None:
        """A key joined: a later label for it is a duplicate (for ``label_wait_s``)."""
        self._joined[key] = now + self.wait_s["label"]
        self._joined.move_to_end(key)
        while len(self._joined) > self.max_pending:
            self._joined.popitem(last=False)

    def _keep(self, entry: Entry) -> None:
        while self.size >= self.max_pending:
            self._evict_oldest()
        self.pending[entry.side][entry.key] = entry
        self._offsets.setdefault((entry.side, entry.partition), _Offsets()).add(entry.offset)

    def _evict_oldest(self) -> None:
        heads = [next(iter(entries.values())) for entries in self.pending.values() if entries]
        oldest = min(heads, key=lambda entry: entry.deadline)
        del self.pending[oldest.side][oldest.key]
        self._drop(oldest, evicted=True)

    def _drop(self, entry: Entry, *, evicted: bool) -> None:
        """An entry leaves without its other half."""
        self._release(entry)
        if entry.replayed:
            self.counts["replayed_expired"] += 1
        elif evicted:
            self.counts[f"evicted_{entry.side}"] += 1
        else:
            self.counts["expired_prediction" if entry.side == "prediction"
                        else "label_without_prediction"] += 1
        if entry.side == "prediction":
            self._left.append(entry)

    def _release(self, entry: Entry) -> None:
        self._offsets[(entry.side, entry.partition)].remove(entry.offset)


def commit_offsets(
    positions: dict[tuple[Side, int], int], low: dict[tuple[Side, int], int]
) -> dict[tuple[Side, int], int]:
    """What to commit per (side, partition): the lowest offset still pending, else the next
    offset to read.

    >>> commit_offsets({("label", 0): 10, ("prediction", 0): 12}, {("prediction", 0): 5})
    {('label', 0): 10, ('prediction', 0): 5}
    """
    return {where: min(position, low.get(where, position))
            for where, position in positions.items()}


class RestoreStart:
    """Where, in one partition of the training topic, a restore must start reading so that
    it finds the example of every joined prediction at or above the committed offset, and of
    every join younger than ``remember_s`` (a later label for it is then still a duplicate).

    Built with what the last restore knew, at ``now``: predictions at or above ``committed``
    were published at or above ``start``, those below ``replayed_until`` (read before the
    restart) may be among them, and the ids it restored are remembered ``remember_s`` from
    ``now``. Each flush adds a note: predictions read from then on, and examples published
    from then on, land at or above the training topic's end after that flush.

    >>> where = RestoreStart(committed=0, start=40, replayed_until=10, now=0.0, remember_s=60)
    >>> where.note(position=4, end=55, now=1.0)   # read again up to 4: notes count from 10
    >>> where.note(position=20, end=61, now=2.0)
    >>> where.start(25, now=30.0), where.start(25, now=61.5), where.start(25, now=62.5)
    (40, 55, 61)
    """

    def __init__(self, *, committed: int, start: int, replayed_until: int, now: float,
                 remember_s: float) -> None:
        self._notes: list[tuple[int, int]] = [(committed, start)]
        self._floor = replayed_until
        self._remember_s = remember_s
        self._times: deque[tuple[float, int]] = deque([(now, start)])

    def note(self, *, position: int, end: int, now: float) -> None:
        """After a flush whose examples are all acknowledged: the next prediction to read is
        at ``position``, the next example will land at or above ``end``."""
        position = max(position, self._floor)
        if position == self._notes[-1][0] and len(self._notes) > 1:
            self._notes[-1] = (position, end)
        elif position > self._notes[-1][0]:
            self._notes.append((position, end))
        if end > self._times[-1][1]:
            self._times.append((now, end))

    def start(self, committed: int, *, now: float) -> int:
        """The restore start that goes with committing ``committed`` for the predictions at
        ``now`` (what neither needs any more is forgotten)."""
        index = 0
        for i, (position, _) in enumerate(self._notes):
            if position <= committed:
                index = i
        del self._notes[:index]
        while len(self._times) > 1 and self._times[1][0] < now - self._remember_s:
            self._times.popleft()
        return min(self._notes[0][1], self._times[0][1])


#: Prediction fields that are not model outputs.
PREDICTION_FIELDS = frozenset(
    ("id", "model", "model_version", "latency_ms", "source", "ts", "event_time", "features")
)


def labelled_example(prediction: dict[str, Any], label: Any, labelled_at: int) -> dict[str, Any]:
    """The labelled example of a prediction and its label (docs/contracts.md).

    >>> labelled_example({"id": "e1", "model": "m", "model_version": "v", "label": 0,
    ...                   "latency_ms": 3, "ts": 1000, "features": {"a": 1.5}}, 1, 1500)
    ... # doctest: +NORMALIZE_WHITESPACE
    {'id': 'e1', 'features': {'a': 1.5}, 'label': 1, 'outputs': {'label': 0}, 'model': 'm',
     'model_version': 'v', 'predicted_at': 1000, 'labelled_at': 1500, 'label_delay_ms': 500}
    """
    predicted_at = prediction.get("ts")
    delay = labelled_at - predicted_at if isinstance(predicted_at, int) else None
    return {
        "id": prediction.get("id"),
        "features": prediction.get("features"),
        "label": label,
        "outputs": {k: v for k, v in prediction.items() if k not in PREDICTION_FIELDS},
        "model": prediction.get("model"),
        "model_version": prediction.get("model_version"),
        "predicted_at": predicted_at,
        "labelled_at": labelled_at,
        "label_delay_ms": delay,
    }
