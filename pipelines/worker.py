"""A source worker: poll -> micro-batch -> score -> produce -> wait for acks -> commit.

:class:`ScoringLoop` is the loop itself (plain Python, one thread); :class:`SourceWorker` is
the Ray actor that runs one loop in a thread of its own and answers ``stats``/``stop``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter as Tally

from kafka import TopicPartition
from kafka.errors import CommitFailedError, KafkaError

from streaminfer.errors import StreamInferError
from streaminfer.operators.batcher import MicroBatcher
from streaminfer.operators.codecs import codec_for
from streaminfer.operators.kafka_sink import KafkaSink, SinkError
from streaminfer.operators.kafka_source import KafkaSource
from streaminfer.operators.metrics import WorkerMetrics, WorkerStats
from streaminfer.operators.model_runner import OnnxModel
from streaminfer.operators.records import Record
from streaminfer.pipelines.kafka_settings import client_config
from streaminfer.pipelines.scoring import BatchScorer, ScoredBatch
from streaminfer.pipelines.spec import PipelineSpec

log = logging.getLogger(__name__)

IDLE_POLL_MS = 100
LAG_EVERY_S = 1.0
RETRY_BACKOFF_S = (0.1, 0.5, 1.0, 2.0, 5.0)
#: Produce attempts for a batch while partitions are being revoked or the worker stops;
#: after that the batch is abandoned uncommitted and whoever owns the partitions next
#: reads it again (at-least-once).
ATTEMPTS_WHEN_LEAVING = 3


def load_model(spec: PipelineSpec, data: bytes) -> OnnxModel:
    """The pipeline's model from its bytes, as the spec configures it."""
    m = spec.model
    return OnnxModel(
        data, name=m.name or m.path.stem, version=m.version, expected_sha256=m.sha256,
        providers=m.providers, input_name=m.input_name, outputs=m.outputs,
        intra_op_threads=m.intra_op_threads,
    )


def next_offsets(records: list[Record]) -> dict[TopicPartition, int]:
    """Per partition, the offset after the last record: what to commit once all are acked."""
    last: dict[tuple[str, int], int] = {}
    for record in records:  # each partition's records are in offset order
        last[(record.topic, record.partition)] = record.offset
    return {TopicPartition(topic, part): offset + 1 for (topic, part), offset in last.items()}


class ScoringLoop:
    """One consumer-group member scoring its partitions until :meth:`request_stop`."""

    def __init__(
        self, spec: PipelineSpec, bootstrap_servers: str, model_bytes: bytes, worker_id: str
    ) -> None:
        self.spec = spec
        self.worker_id = worker_id
        self.metrics = WorkerMetrics(worker_id, os.getpid())
        self.scorer = BatchScorer(load_model(spec, model_bytes), spec.source,
                                  codec_for(spec.source.codec))
        self.batcher: MicroBatcher[Record] = MicroBatcher(
            spec.batching.max_size, spec.batching.max_wait_ms
        )
        config = client_config(spec.kafka, bootstrap_servers)
        config["client_id"] = f"{spec.kafka.client_id}-{worker_id}"
        self.sink = KafkaSink(config, linger_ms=spec.sink.linger_ms,
                              compression=spec.sink.compression)
        try:
            self.source = KafkaSource(
                config, topics=list(spec.source.topics), group_id=spec.source.group_id,
                on_revoked=self._on_revoked,
                on_assigned=lambda tps: self.metrics.record_assignment(
                    [(tp.topic, tp.partition) for tp in tps]
                ),
                auto_offset_reset=spec.source.auto_offset_reset,
                max_poll_records=spec.source.max_poll_records,
                fetch_max_wait_ms=spec.source.fetch_max_wait_ms,
                session_timeout_ms=spec.kafka.session_timeout_ms,
                heartbeat_interval_ms=spec.kafka.heartbeat_interval_ms,
            )
        except BaseException:
            self.sink.close()
            raise
        self._stop = threading.Event()
        self._running = False
        self._next_lag_at = 0.0

    def request_stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        """Score until asked to stop; then finish the open batch, commit and leave the group."""
        self._running = True
        try:
            while not self._stop.is_set():
                self.step()
            self._flush(attempts=ATTEMPTS_WHEN_LEAVING)
        finally:
            self._running = False
            self.source.close()
            self.sink.close()

    def step(self) -> None:
        """One poll; scores the batch when it is full or due."""
        left = self.batcher.time_left()
        timeout_ms = IDLE_POLL_MS if left is None else int(left * 1000)
        max_records = min(self.batcher.room, self.spec.source.max_poll_records)
        self.batcher.add(self.source.poll(timeout_ms, max_records))
        if self.batcher.ready():
            self._flush(attempts=None)
        now = time.monotonic()
        if now >= self._next_lag_at:
            self._next_lag_at = now + LAG_EVERY_S
            self.metrics.record_lag(
                {(tp.topic, tp.partition): lag for tp, lag in self.source.lag().items()}
            )

    def stats(self, families: bool = True) -> WorkerStats:
        return self.metrics.snapshot(running=self._running, families=families)

    def _on_revoked(self, revoked: set[TopicPartition]) -> None:
        # Runs inside poll(), while this member may still commit: finish what it holds.
        if len(self.batcher):
            log.info("%s: partitions revoked; finishing %d buffered events",
                     self.worker_id, len(self.batcher))
            self._flush(attempts=ATTEMPTS_WHEN_LEAVING)

    def _flush(self, attempts: int | None) -> None:
        records = self.batcher.drain()
        if records:
            self._deliver(records, attempts)

    def _deliver(self, records: list[Record], attempts: int | None) -> None:
        """Score, produce, await every ack, then commit; retry the whole batch on failure.

        ``attempts=None`` retries until it succeeds or a stop is requested.
        """
        scored = self.scorer.score(records)
        attempt = 0
        while True:
            attempt += 1
            try:
                self._produce(scored)
                break
            except SinkError as exc:
                self.metrics.record_retry()
                give_up = self._stop.is_set() or (attempts is not None and attempt >= attempts)
                if give_up:
                    log.warning("%s: abandoning %d events uncommitted after %d attempt(s): %s; "
                                "they will be read again", self.worker_id, len(records),
                                attempt, exc)
                    return
                delay = RETRY_BACKOFF_S[min(attempt - 1, len(RETRY_BACKOFF_S) - 1)]
                log.warning("%s: produce failed (%s); retrying in %.1fs", self.worker_id, exc,
                            delay)
                self._stop.wait(delay)
        try:
            self.source.commit(next_offsets(records))
        except (CommitFailedError, KafkaError) as exc:
            # Produced but not committed: the partitions' next owner scores them again.
            self.metrics.record_commit_failure()
            log.warning("%s: commit failed (%s); %d events may be scored twice",
                        self.worker_id, exc, len(records))
        self.metrics.record_batch(
            topics=Tally(record.topic for record in records),
            predictions=len(scored.predictions),
            dead_letters=[d.error_type for d in scored.dead_letters],
            latencies_ms=scored.latencies_ms, inference_s=scored.inference_s,
            model_batch_failed=scored.model_batch_failed,
        )

    def _produce(self, scored: ScoredBatch) -> None:
        sink, spec = self.sink, self.spec.sink
        for key, value in scored.predictions:
            sink.send(spec.predictions_topic, key, value)
        for letter in scored.dead_letters:
            sink.send(spec.dead_letter_topic, letter.key, letter.value, letter.headers)
        sink.flush()


class ModelStore:
    """Ray actor holding a pipeline's model bytes, so a (re)started worker can fetch them.

    Workers find it by name: their constructor takes no object reference, which Ray could
    not restore when it restarts them (ray-project/ray#53727).
    """

    def __init__(self, data: bytes) -> None:
        self._data = data

    def get(self) -> bytes:
        return self._data


class SourceWorker:
    """Ray actor around one :class:`ScoringLoop` (made remote by the runtime).

    Setup errors are kept and reported by :meth:`ready`, so the driver shows one clear line.
    An unexpected crash of the loop ends the process, and Ray restarts the actor (up to
    ``workers.max_restarts``); its partitions wait for it or move to the other workers.
    """

    def __init__(
        self, spec: PipelineSpec, bootstrap_servers: str, model_store: str, worker_id: str
    ) -> None:
        import ray

        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        # kafka-python logs every retried connection; this worker reports what matters.
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
        self.error: str | None = None
        self.loop: ScoringLoop | None = None
        try:
            store = ray.get_actor(model_store, namespace=spec.ray.namespace)
            model_bytes = ray.get(store.get.remote())
            self.loop = ScoringLoop(spec, bootstrap_servers, model_bytes, worker_id)
        except StreamInferError as exc:
            self.error = str(exc)
            return
        except KafkaError as exc:
            self.error = f"cannot connect to Kafka: {exc}"
            return
        self._thread = threading.Thread(target=self._run, name=f"loop-{worker_id}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        assert self.loop is not None
        try:
            self.loop.run()
        except Exception:
            log.exception("%s: scoring loop crashed; exiting so Ray restarts this worker",
                          self.loop.worker_id)
            os._exit(1)

    def ready(self) -> str | None:
        """``None`` once the worker runs, else why it could not start."""
        return self.error

    def stats(self, families: bool = True) -> WorkerStats | None:
        """Counters; ``families`` adds the Prometheus metric families (for the driver's
        endpoint)."""
        return self.loop.stats(families) if self.loop else None

    def stop(self, timeout_s: float = 30.0) -> WorkerStats | None:
        """Stop polling, finish the open batch, commit, leave the group; return final stats."""
        if self.loop is None:
            return None
        self.loop.request_stop()
        self._thread.join(timeout_s)
        return self.loop.stats()
