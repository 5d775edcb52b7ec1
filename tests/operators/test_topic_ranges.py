"""Topic ranges: parsing the source string, resolving it to exact offsets."""

from __future__ import annotations

import pytest

from streaminfer.operators.topic_ranges import (
    RangeError,
    is_topic_source,
    parse_topic_source,
    resolve,
)

BEGIN = {0: 0, 1: 5}
HIGH = {0: 100, 1: 50}


def ranges(text: str, times: dict[tuple[str, int], int | None] | None = None) -> dict[
        int, tuple[int, int]]:
    return resolve(parse_topic_source(text), begin=BEGIN, high=HIGH, times=times or {})


def test_defaults_are_earliest_to_latest() -> None:
    assert is_topic_source("kafka:events") and not is_topic_source("events.parquet")
    assert ranges("kafka:events") == {0: (0, 100), 1: (5, 50)}


def test_one_offset_for_all_and_per_partition_offsets() -> None:
    assert ranges("kafka:events?start=10&end=40") == {0: (10, 40), 1: (10, 40)}
    assert ranges("kafka:events?start=1:20&end=0:7") == {0: (0, 7), 1: (20, 50)}


def test_time_bounds_take_the_offsets_found_and_the_end_when_none() -> None:
    request = parse_topic_source("kafka:t?start=time:2024-06-01T00:00:00Z&end=time:1717300000000")
    assert request.start.time_ms == 1717200000000 and request.end.time_ms == 1717300000000
    found = resolve(request, begin=BEGIN, high=HIGH, times={
        ("start", 0): 3, ("start", 1): 9, ("end", 0): None, ("end", 1): 30})
    assert found == {0: (3, 100), 1: (9, 30)}


@pytest.mark.parametrize(("text", "words"), [
    ("kafka:", "no topic"),
    ("kafka:t?begin=0", "unknown parameter begin"),
    ("kafka:t?start=soon", "expected earliest, latest"),
    ("kafka:t?start=-3", "expected earliest, latest"),
    ("kafka:t?start=time:yesterday", "not an ISO-8601"),
])
def test_bad_strings_name_the_fix(text: str, words: str) -> None:
    with pytest.raises(RangeError, match=words):
        parse_topic_source(text)


def test_offsets_outside_a_partition_or_reversed_are_refused() -> None:
    with pytest.raises(RangeError, match=r"partition 1 holds offsets 5\.\.49; end offset 80"):
        ranges("kafka:t?end=80")
    with pytest.raises(RangeError, match="start offset 40 is after end 20"):
        ranges("kafka:t?start=40&end=20")
