"""Read whole topics outside any consumer group: for tail, the demo, tests and benchmarks."""

from __future__ import annotations

import time
from typing import Any

from streaminfer.errors import BrokerError
from streaminfer.operators.records import Record
from streaminfer.pipelines.kafka.factory import new_consumer
from streaminfer.pipelines.kafka.topic_metadata import exact_end_offsets, wait_for_partitions


class TopicReader:
    """Assigns every partition of ``topics`` and reads from the start, or from the exact end
    (the high watermark: only records written after it was made, never the tail of the last
    batch that the embedded broker's ``end_offsets()`` would point into).

    It commits nothing and joins no group, so reading never disturbs a pipeline.
    """

    def __init__(
        self, config: dict[str, Any], topics: list[str], *, from_beginning: bool = True,
        metadata_timeout_s: float = 15.0, fetch_max_wait_ms: int = 100,
    ) -> None:
        self._config = config
        self._consumer = new_consumer(config, fetch_max_wait_ms=fetch_max_wait_ms)
        try:
            partitions = wait_for_partitions(self._consumer, topics, metadata_timeout_s)
            self.partitions = partitions
            if from_beginning:
                self._consumer.assign(partitions)
                self._consumer.seek_to_beginning(*partitions)
            else:
                ends = exact_end_offsets(self._consumer, partitions, metadata_timeout_s)
                for tp, end in ends.items():
                    self._consumer.seek(tp, end)
        except BrokerError:
            self._consumer.close()
            raise

    #: Most records one :meth:`poll` returns.
    max_records = 5_000

    def poll(self, timeout_ms: int = 200) -> list[Record]:
        batches = self._consumer.poll(timeout_ms=timeout_ms, max_records=self.max_records)
        return [record for records in batches.values() for record in records]

    def read(self, count: int, timeout_s: float) -> list[Record]:
        """Read until ``count`` records arrived or ``timeout_s`` passed; returns what came."""
        records: list[Record] = []
        deadline = time.monotonic() + timeout_s
        while len(records) < count and time.monotonic() < deadline:
            records += self.poll(timeout_ms=100)
        return records

    def read_to_end(self, timeout_s: float = 30.0) -> list[Record]:
        """The records not read yet up to each partition's exact end as of this call: all
        that writers had acknowledged before it. Raises :class:`BrokerError` when that end
        is not reached within ``timeout_s``."""
        probe = new_consumer(self._config)
        try:
            ends = exact_end_offsets(probe, self.partitions, timeout_s)
        finally:
            probe.close(autocommit=False)
        records: list[Record] = []
        deadline = time.monotonic() + timeout_s
        while short := [tp for tp, end in ends.items() if self._consumer.position(tp) < end]:
            if time.monotonic() > deadline:
                raise BrokerError(f"could not read {', '.join(map(str, short))} to its end "
                                  f"within {timeout_s:.0f}s")
            records += self.poll(timeout_ms=100)
        return records

    def close(self) -> None:
        self._consumer.close(autocommit=False)

    def __enter__(self) -> TopicReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
