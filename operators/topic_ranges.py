"""Topic ranges for batch jobs: ``kafka:TOPIC?start=...&end=...`` parsed and resolved to
exact offsets per partition.

A bound is ``earliest``, ``latest``, one offset for every partition (``1000``), offsets per
partition (``0:1000,3:250``; unnamed partitions take ``earliest``/``latest``), or a time
(``time:2024-06-01T00:00:00Z`` or ``time:1717200000000``, epoch ms): the first offset whose
record timestamp is at or after it.

>>> r = parse_topic_source("kafka:events?start=0:5,1:7&end=latest")
>>> r.topic, r.start.offsets, r.end.kind
('events', {0: 5, 1: 7}, 'latest')
>>> resolve(r, begin={0: 0, 1: 0}, high={0: 10, 1: 9}, times={})
{0: (5, 10), 1: (7, 9)}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Literal
from urllib.parse import parse_qsl

PREFIX = "kafka:"
BoundKind = Literal["earliest", "latest", "offsets", "time"]


class RangeError(ValueError):
    """A topic range that cannot be parsed or does not fit the topic."""


@dataclass(frozen=True)
class Bound:
    """One end of a range. ``offsets`` maps partition -> offset (key -1: every partition)."""

    kind: BoundKind
    offsets: dict[int, int] = field(default_factory=dict)
    time_ms: int | None = None


@dataclass(frozen=True)
class TopicRange:
    topic: str
    start: Bound
    end: Bound


def is_topic_source(text: str) -> bool:
    return text.startswith(PREFIX)


def parse_topic_source(text: str) -> TopicRange:
    """Parse ``kafka:TOPIC[?start=BOUND][&end=BOUND]`` (defaults: earliest .. latest)."""
    body = text[len(PREFIX):].lstrip("/")
    topic, _, query = body.partition("?")
    if not topic:
        raise RangeError(f"{text}: no topic; write kafka:TOPIC?start=earliest&end=latest")
    params = dict(parse_qsl(query, keep_blank_values=True))
    unknown = sorted(set(params) - {"start", "end"})
    if unknown:
        raise RangeError(f"{text}: unknown parameter {', '.join(unknown)}; use start and end")
    return TopicRange(topic, parse_bound(params.get("start", "earliest"), "start"),
                      parse_bound(params.get("end", "latest"), "end"))


def parse_bound(text: str, which: str) -> Bound:
    text = text.strip()
    if text in ("earliest", "latest"):
        return Bound(text)  # type: ignore[arg-type]
    if text.startswith("time:"):
        return Bound("time", time_ms=_time_ms(text[5:], which))
    try:
        if ":" not in text:
            return Bound("offsets", {-1: _offset(text)})
        pairs = (item.split(":", 1) for item in text.split(",") if item)
        return Bound("offsets", {int(p): _offset(o) for p, o in pairs})
    except ValueError:
        raise RangeError(
            f"{which}={text!r}: expected earliest, latest, an offset, PARTITION:OFFSET,... or "
            "time:ISO-8601 / time:EPOCH_MS"
        ) from None


def _offset(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError("negative offset")
    return value


def _time_ms(text: str, which: str) -> int:
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise RangeError(f"{which}=time:{text}: not an ISO-8601 time nor epoch ms") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


def resolve(
    request: TopicRange, *, begin: Mapping[int, int], high: Mapping[int, int],
    times: Mapping[tuple[str, int], int | None],
) -> dict[int, tuple[int, int]]:
    """Exact ``[start, end)`` per partition, from each partition's first offset (``begin``),
    its high watermark (``high``) and, for time bounds, the offset found for each
    ``(which, partition)`` (``None``: no record that late, i.e. the high watermark)."""
    ranges = {}
    for partition in sorted(high):
        lo = _at(request.start, "start", partition, begin, high, times)
        hi = _at(request.end, "end", partition, begin, high, times)
        for name, value in (("start", lo), ("end", hi)):
            if not begin[partition] <= value <= high[partition]:
                raise RangeError(
                    f"{request.topic} partition {partition} holds offsets "
                    f"{begin[partition]}..{high[partition] - 1}; {name} offset {value} is "
                    "outside it"
                )
        if lo > hi:
            raise RangeError(
                f"{request.topic} partition {partition}: start offset {lo} is after end {hi}"
            )
        ranges[partition] = (lo, hi)
    return ranges


def _at(
    bound: Bound, which: str, partition: int, begin: Mapping[int, int],
    high: Mapping[int, int], times: Mapping[tuple[str, int], int | None],
) -> int:
    if bound.kind == "earliest":
        return begin[partition]
    if bound.kind == "latest":
        return high[partition]
    if bound.kind == "time":
        found = times[(which, partition)]
        return high[partition] if found is None else found
    if partition in bound.offsets:
        return bound.offsets[partition]
    if -1 in bound.offsets:
        return bound.offsets[-1]
    return begin[partition] if which == "start" else high[partition]
