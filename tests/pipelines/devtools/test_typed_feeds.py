"""The typed demos' events (pure logic): seeded chunks of a thousand, each good event
labelled with its true class's name, the bad ones one kind after the other."""

from __future__ import annotations

import orjson
import pytest

from streaminfer.pipelines.devtools.typed_feeds import CHUNK, MISSING, TYPED_EXAMPLES, TypedFeed


@pytest.mark.parametrize("name", list(TYPED_EXAMPLES))
def test_each_chunk_is_seeded_and_full(name: str) -> None:
    rows = TYPED_EXAMPLES[name].rows
    first, again, second = rows(0), rows(0), rows(1)
    assert first == again and first != second
    assert len(first[0]) == len(first[1]) == CHUNK == len(second[0])


@pytest.mark.parametrize("name", list(TYPED_EXAMPLES))
def test_the_feed_labels_good_events_and_spoils_every_nth(name: str) -> None:
    example = TYPED_EXAMPLES[name]
    feed = TypedFeed(example, id_field="the_id", bad_every=10)
    events = [feed.event(i) for i in range(CHUNK + 50)]  # over a chunk's end
    bad = [e for e in events if e.bad]
    assert len(bad) == (CHUNK + 50) // 10 and all(e.label is None for e in bad)
    good = [e for e in events if not e.bad]
    fields, labels = example.rows(0)
    assert orjson.loads(good[0].value) == {"the_id": "evt-00000000", **fields[0]} | (
        {example.time_field: orjson.loads(good[0].value)[example.time_field]}
        if example.time_field else {})
    assert [e.label for e in good[:9]] == labels[:9]
    kinds = len(example.bad) + 1
    for i, (field, value) in enumerate(example.bad):
        spoilt = orjson.loads(bad[i].value)
        assert spoilt["the_id"] == f"evt-{10 * i + 9:08d}"
        assert (field not in spoilt) if value is MISSING else spoilt[field] == value
    with pytest.raises(orjson.JSONDecodeError):  # the last kind: cut in half
        orjson.loads(bad[kinds - 1].value)
