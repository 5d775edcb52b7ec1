"""Pure helpers of the scoring loop (the loop itself is tested against the real broker)."""

from kafka import TopicPartition

from streaminfer.operators.records import SourceRecord
from streaminfer.pipelines.runtime.worker import first_offsets, next_offsets


def _records(*where: tuple[int, int]) -> list[SourceRecord]:
    return [SourceRecord("t", part, offset, 0, None, b"{}") for part, offset in where]


def test_next_offsets_are_after_each_partitions_last_record():
    records = _records((1, 7), (0, 3), (1, 8), (0, 4))
    assert next_offsets(records) == {TopicPartition("t", 1): 9, TopicPartition("t", 0): 5}


def test_first_offsets_are_each_partitions_first_record():
    records = _records((1, 7), (0, 3), (1, 8), (0, 4))
    assert first_offsets(records) == {TopicPartition("t", 1): 7, TopicPartition("t", 0): 3}
