"""A source worker: poll -> micro-batch -> score -> produce -> wait for acks -> commit.

The acks of a batch's outputs are awaited when the fourth batch after it is sent
(:data:`UNACKED_BATCHES`), or when nothing more is ready, so the broker's answer overlaps the
work of the next batches and the producer's linger; its offsets are committed then, in batch
order, as always only once every output is acknowledged.

:class:`ScoringLoop` is the loop itself (a :class:`~streaminfer.pipelines.runtime.loop.Loop`:
plain Python, one thread); :class:`SourceWorker` is the Ray actor that runs one loop in a
thread of its own and answers ``stats``/``stop``.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter as Tally
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from kafka import TopicPartition
from kafka.errors import KafkaError

from streaminfer.errors import StreamInferError
from streaminfer.operators.batcher import MicroBatcher, record_bytes
from streaminfer.operators.drift import BinCounts, DriftTally
from streaminfer.operators.profile import Profile
from streaminfer.operators.records import Record
from streaminfer.pipelines.kafka.clients import member_config
from streaminfer.pipelines.kafka.confluent import ConfluentSource
from streaminfer.pipelines.kafka.confluent_sink import ConfluentSink
from streaminfer.pipelines.kafka.sink import KafkaSink, Sink, SinkError
from streaminfer.pipelines.kafka.source import KafkaSource, Source
from streaminfer.pipelines.process.log_levels import setup_actor_logging
from streaminfer.pipelines.runtime.assembly import build_scorer
from streaminfer.pipelines.runtime.candidates import ShadowTally
from streaminfer.pipelines.runtime.delivery import Outbox, Outgoing
from streaminfer.pipelines.runtime.loop import Loop
from streaminfer.pipelines.runtime.loop_actor import LoopActor
from streaminfer.pipelines.runtime.model_backends import ModelUnavailableError
from streaminfer.pipelines.runtime.model_store import ModelLocator
from streaminfer.pipelines.runtime.model_swaps import ModelSwaps
from streaminfer.pipelines.runtime.scoring import BatchScorer, PreparedBatch, ScoredBatch
from streaminfer.pipelines.runtime.worker_metrics import WorkerMetrics, WorkerStats
from streaminfer.pipelines.runtime.worker_models import (
    load_candidates,
    swap_to_current,
    sync_candidate,
)
from streaminfer.pipelines.spec.schema import ModelSpec, PipelineSpec

log = logging.getLogger(__name__)

IDLE_POLL_MS = 100
UNASSIGNED_WARNING_S = 30.0
IN_FLIGHT_POLL_MS = 2  # poll briefly while batches are at the model, to see them finish
LAG_EVERY_S = 1.0
#: Batches whose outputs may await their acks at once (a batch is awaited before the
#: fourth after it is sent); 2 against 1, then 4 against 2, measured in docs/decisions.md
#: (issue 22).
UNACKED_BATCHES = 4


def worker_client_config(
    spec: PipelineSpec, bootstrap_servers: str, worker_id: str
) -> dict[str, Any]:
    """kafka-python settings of one worker's clients (its own ``client_id``)."""
    return member_config(spec.kafka, bootstrap_servers, worker_id)


def make_sink(spec: PipelineSpec, bootstrap_servers: str, worker_id: str) -> Sink:
    """The Kafka sink of one worker, as the spec configures it (``kafka.client``)."""
    sink = ConfluentSink if spec.kafka.client == "confluent" else KafkaSink
    return sink(worker_client_config(spec, bootstrap_servers, worker_id),
                linger_ms=spec.sink.linger_ms, compression=spec.sink.compression)


def make_source(spec: PipelineSpec, bootstrap_servers: str, worker_id: str) -> Source:
    """The Kafka source of one worker (a member of ``source.group_id``), as the spec says
    (``kafka.client``)."""
    source = ConfluentSource if spec.kafka.client == "confluent" else KafkaSource
    return source(
        worker_client_config(spec, bootstrap_servers, worker_id),
        topics=list(spec.source.topics), group_id=spec.source.group_id,
        auto_offset_reset=spec.source.auto_offset_reset,
        max_poll_records=spec.source.max_poll_records,
        fetch_max_wait_ms=spec.fetch_max_wait_ms,
        session_timeout_ms=spec.kafka.session_timeout_ms,
        heartbeat_interval_ms=spec.kafka.heartbeat_interval_ms,
    )


def max_in_flight(spec: PipelineSpec) -> int:
    """Micro-batches a worker may have at the model at once (1 when all run in-process)."""
    served = [m.serve.max_in_flight for m in spec.model_specs if m.serving == "serve"]
    return max(served, default=1)


def next_offsets(records: list[Record]) -> dict[TopicPartition, int]:
    """Per partition, the offset after the last record: what to commit once all are acked."""
    last: dict[tuple[str, int], int] = {}
    for record in records:  # each partition's records are in offset order
        last[(record.topic, record.partition)] = record.offset
    return {TopicPartition(topic, part): offset + 1 for (topic, part), offset in last.items()}


def first_offsets(records: list[Record]) -> dict[TopicPartition, int]:
    """Per partition, the offset of the first record: where to read it again from."""
    first: dict[tuple[str, int], int] = {}
    for record in records:
        first.setdefault((record.topic, record.partition), record.offset)
    return {TopicPartition(topic, part): offset for (topic, part), offset in first.items()}


@dataclass
class SentBatch:
    """A batch whose outputs were sent, their acknowledgements not yet awaited."""

    batch: PreparedBatch  # its records: ``batch.records`` (the same after a retry's prepare)
    outbox: Outbox = field(default_factory=Outbox)
    scored: ScoredBatch | None = None  # None: finished (the model called again) when awaited
    unreachable: ModelUnavailableError | None = None  # the model's answer when it was sent
    #: Its drift bin counts (model, version, counts), taken when it was scored, against the
    #: profiles of then (a swap may change them before it is delivered).
    drift: list[tuple[str, str, BinCounts]] = field(default_factory=list)


class ScoringLoop(Loop[WorkerStats]):
    """One consumer-group member scoring its partitions until :meth:`request_stop`."""

    def __init__(
        self, spec: PipelineSpec, bootstrap_servers: str, scorer: BatchScorer, worker_id: str,
        *, source: Source | None = None, sink: Sink | None = None,
        profiles: dict[str, Profile] | None = None,
    ) -> None:
        """``source``: where events come from, by default made by :func:`make_source` (the
        loop subscribes it); ``sink``: where predictions and dead letters go, by default made
        by :func:`make_sink` (both of the spec's ``kafka.client``). The loop
        closes both (the in-memory twins of ``pipelines.kafka.memory`` test its logic).
        ``profiles``: training profiles by model name, whose drift bins it counts."""
        super().__init__(spec.sink.delivery)
        self.spec = spec
        self.worker_id = worker_id
        self.metrics = WorkerMetrics(worker_id, os.getpid())
        self.drift = DriftTally(profiles or {})
        self.scorer = scorer
        self.swaps = ModelSwaps()
        self.shadow = ShadowTally(self.metrics.registry)
        self.shadow_topic = spec.rollout.shadow_topic_for(spec.sink.predictions_topic)
        self.max_in_flight = max_in_flight(spec)
        self.in_flight: deque[PreparedBatch] = deque()
        self.sent: deque[SentBatch] = deque()  # oldest first; see UNACKED_BATCHES
        self.batcher: MicroBatcher[Record] = MicroBatcher(
            spec.batching.max_size, spec.batching.max_wait_ms,
            max_bytes=spec.batching.max_bytes, size=record_bytes)
        self.sink = sink or make_sink(spec, bootstrap_servers, worker_id)
        try:
            self.source = source or make_source(spec, bootstrap_servers, worker_id)
        except BaseException:
            self.sink.close()
            raise
        try:
            self.source.subscribe(self._on_revoked, lambda tps: self.metrics.record_assignment(
                [(tp.topic, tp.partition) for tp in tps]))
        except BaseException:
            self.close()
            raise
        self._next_lag_at = 0.0
        self._unassigned_since: float | None = time.monotonic()

    def finish(self) -> None:
        """Finish what it holds and commit (when asked to stop).

        The consumer stays in the group (its heartbeats go on) until :meth:`close`: stopping
        several workers drains them all first and only then lets them leave, so no worker
        is pulled into a rebalance by another one's departure while it shuts down.
        """
        self._finish_all()

    def close(self) -> None:
        """Leave the group and close the clients (after :meth:`run` returned)."""
        self.metrics.record_assignment([])
        self.source.close()
        self.sink.close()

    def step(self) -> None:
        """Submit a due batch, deliver the batches the model has answered, then poll.

        With ``max_in_flight`` batches at the model, it waits for the oldest instead of
        polling: a saturated model slows the reading down rather than filling memory. Batches
        sent are awaited oldest first once :data:`UNACKED_BATCHES` are on their way, and all
        at once when the poll brought nothing to score meanwhile.
        """
        self.swaps.apply(self.scorer, self.worker_id)  # a batch boundary
        if self.batcher.ready():
            if len(self.in_flight) >= self.max_in_flight:
                self._deliver_oldest(give_up=False)
            self.in_flight.append(self.scorer.prepare(self.batcher.drain()))
        while self.in_flight and self.in_flight[0].done():
            self._deliver_oldest(give_up=False)
        left = self.batcher.time_left()
        timeout_ms = IDLE_POLL_MS if left is None else int(left * 1000)
        if self.in_flight:
            timeout_ms = min(timeout_ms, IN_FLIGHT_POLL_MS)
        if self.sent and not len(self.batcher):
            timeout_ms = 0  # acks are due: read only what is fetched already
        if self.batcher.room > 0:
            max_records = min(self.batcher.room, self.spec.source.max_poll_records)
            self.batcher.add(self.source.poll(timeout_ms, max_records))
        if self.sent and not len(self.batcher):
            self._await_all_sent(give_up=False)  # no next batch to overlap their acks with
        now = time.monotonic()
        if now >= self._next_lag_at:
            self._next_lag_at = now + LAG_EVERY_S
            self.metrics.record_lag(
                {(tp.topic, tp.partition): lag for tp, lag in self.source.lag().items()}
            )
            self._check_assignment(now)

    def stats(self, families: bool = True) -> WorkerStats:
        stats = self.metrics.snapshot(running=self._running, families=families)
        stats.drift = self.drift.snapshot()
        stats.shadow = {key: list(counts) for key, counts in self.shadow.counts.items()}
        return stats

    def _check_assignment(self, now: float) -> None:
        """Say once when this worker has owned no partition for a while."""
        if self.metrics.stats.assigned:
            self._unassigned_since = None
        elif self._unassigned_since is None:
            self._unassigned_since = now
        elif now - self._unassigned_since > UNASSIGNED_WARNING_S:
            log.warning(
                "%s: no partitions for %.0fs in group %s. Expected when there are more workers "
                "than partitions; otherwise the group is stuck rebalancing (the embedded broker "
                "sometimes is, once every member of a group has left: restart it, or use a new "
                "source.group_id)", self.worker_id, now - self._unassigned_since,
                self.spec.source.group_id)
            self._unassigned_since = float("inf")  # once

    def _on_revoked(self, revoked: set[TopicPartition]) -> None:
        # Runs inside poll(), while this member may still commit: finish what it holds.
        held = len(self.batcher) + sum(len(b.records) for b in self.in_flight)
        if held or self.sent:
            log.info("%s: partitions revoked; finishing %d buffered events", self.worker_id,
                     held + sum(len(sent.batch.records) for sent in self.sent))
            self._finish_all()
        self.metrics.record_revocation([(tp.topic, tp.partition) for tp in revoked])

    def _finish_all(self) -> None:
        """Submit the open batch and deliver everything in flight (before leaving: stopping,
        or partitions revoked), giving each batch up after ``sink.delivery.attempts``."""
        while len(self.batcher):  # one batch at a time: it may be bounded by bytes
            if len(self.in_flight) >= self.max_in_flight:
                self._deliver_oldest(give_up=True)
            self.in_flight.append(self.scorer.prepare(self.batcher.drain()))
        while self.in_flight:
            self._deliver_oldest(give_up=True)
        self._await_all_sent(give_up=True)

    def _deliver_oldest(self, give_up: bool) -> None:
        """Send the oldest batch's outputs (its model results, encoded, handed to the sink;
        their acks are awaited later), after awaiting the batches sent before it down to
        ``UNACKED_BATCHES - 1`` (see :meth:`_await_oldest_sent`), and all of them when one
        could not be sent whole: no batch is sent while an earlier one is not. A model that
        cannot be reached is retried when its batch is awaited."""
        while self.sent and (len(self.sent) >= UNACKED_BATCHES
                             or self.sent[-1].unreachable is not None):
            if not self._await_oldest_sent(give_up):
                return  # given up: what was read after it is dropped too
        batch = self.in_flight.popleft()
        sent = SentBatch(batch)
        try:
            self._finish_batch(sent, eager=True)
        except ModelUnavailableError as exc:
            sent.unreachable = exc
        self.sent.append(sent)

    def _finish_batch(self, sent: SentBatch, *, eager: bool) -> ScoredBatch:
        """The model results of ``sent``, with its outputs in its outbox (``eager``: sent
        to the sink at once)."""
        scored = sent.scored = self.scorer.finish(sent.batch)
        sent.drift.clear()
        for model, (X, outputs) in scored.scored_rows.items():
            version = self.scorer.backends[model].info.version
            counts = self.drift.count(model, version, X, outputs)
            if counts is not None:
                sent.drift.append((model, version, counts))
        self._fill(sent.outbox, scored, self.sink if eager else None)
        return scored

    def _await_all_sent(self, give_up: bool) -> bool:
        """Await every batch sent (:meth:`_await_oldest_sent`), oldest first; False when one
        was given up (the later ones are dropped with it)."""
        while self.sent:
            if not self._await_oldest_sent(give_up):
                return False
        return True

    def _await_oldest_sent(self, give_up: bool) -> bool:
        """Await every ack of the oldest batch sent and commit its offsets
        (:func:`~streaminfer.pipelines.runtime.delivery.deliver`); False when it was given
        up.

        A failure retries the batch, by the spec's ``sink.delivery`` policy, sending again
        only the outputs the broker did not acknowledge (:class:`Outbox`): with ``give_up``
        (when leaving) at most ``attempts`` times, else until it succeeds or a stop is
        requested. A batch given up is not committed, and neither is any later one (they are
        dropped too), so its partitions' next reader scores them again.
        """
        sent = self.sent.popleft()
        records = sent.batch.records

        def produce(attempt: int) -> ScoredBatch:
            if sent.unreachable is not None:
                unreachable, sent.unreachable = sent.unreachable, None
                raise unreachable
            scored = sent.scored if sent.scored is not None else \
                self._finish_batch(sent, eager=False)
            sent.outbox.produce(self.sink, self.delivery.ack_timeout_s)
            return scored

        def retry(attempt: int, exc: Exception, delay: float) -> None:
            self.metrics.record_retry()
            log.warning("%s: %s; retrying the batch in %.1fs", self.worker_id, exc, delay)
            if isinstance(exc, ModelUnavailableError):
                sent.batch = self.scorer.prepare(records)  # the model call again

        done = self.deliver(produce, lambda _: self._commit(records), give_up=give_up,
                            retryable=(SinkError, ModelUnavailableError), on_retry=retry)
        if done.result is None:
            self.metrics.record_retry()
            self._abandon(records, done.attempts, done.error)
            return False
        scored = done.result
        self.metrics.record_batch(
            topics=Tally(record.topic for record in records),
            predictions=len(scored.predictions),
            dead_letters=[d.error_type for d in scored.dead_letters],
            latencies_ms=scored.latencies_ms, inference_s=scored.inference_s,
            model_batch_failed=scored.model_batch_failed,
            truncated_texts=scored.truncated_texts,
        )
        self.shadow.add(scored.shadow_agreement)
        for model, version, counts in sent.drift:
            self.drift.merge(model, version, counts)
        return True

    def _commit(self, records: list[Record]) -> None:
        """Commit the offsets after ``records`` (every output of their batch acknowledged)."""
        try:
            self.source.commit(next_offsets(records))
        except KafkaError as exc:
            # Produced but not committed: the partitions' next owner scores them again.
            self.metrics.record_commit_failure()
            log.warning("%s: commit failed (%s); %d events may be scored twice",
                        self.worker_id, exc, len(records))

    def _abandon(self, records: list[Record], attempt: int, exc: Exception | None) -> None:
        """Give a batch up: drop it and everything read after it (sent or not), uncommitted,
        and read its partitions again from its first record. Nothing read after it may be
        committed before it is delivered, or it would be skipped for good."""
        held = records + [r for b in self.sent for r in b.batch.records] + \
            [r for b in self.in_flight for r in b.records] + self.batcher.drain_all()
        self.sent.clear()
        self.in_flight.clear()
        self.source.rewind(first_offsets(held))
        log.warning("%s: abandoning %d events uncommitted after %d attempt(s): %s; they will "
                    "be read again", self.worker_id, len(held), attempt, exc)

    def _fill(self, outbox: Outbox, scored: ScoredBatch, sink: Sink | None) -> None:
        """A scored batch's outputs: predictions, dead letters, shadow predictions (sent
        at once to ``sink`` when given)."""
        spec = self.spec.sink
        outbox.add_many(spec.predictions_topic, scored.predictions, sink)
        for letter in scored.dead_letters:
            outbox.add(Outgoing(spec.dead_letter_topic, letter.key, letter.value,
                                headers=tuple(letter.headers)), sink)
        outbox.add_many(self.shadow_topic, scored.shadow_predictions, sink)


class SourceWorker(LoopActor[ScoringLoop, WorkerStats]):
    """Ray actor around one :class:`ScoringLoop` (made remote by the runtime), in a
    :class:`LoopActor` shell: set-up errors reported by ``ready``, a crash restarts it (up to
    ``workers.max_restarts``); its partitions wait for it or move to the other workers.
    """

    def __init__(
        self, spec: PipelineSpec, bootstrap_servers: str, worker_id: str,
        models: dict[str, ModelLocator],
    ) -> None:
        setup_actor_logging()  # `streaminfer -v` reaches here (common/log_levels.py)
        self.spec, self.models = spec, models

        def build() -> ScoringLoop:
            # What serves now: after a swap, a restarted worker takes the promoted version.
            loaded = {m.model_name: models[m.model_name].load_current(m)
                      for m in spec.model_specs}
            scorer = build_scorer(spec, {name: backend for name, (backend, _) in loaded.items()})
            load_candidates(scorer, spec, models)  # a restarted worker resumes them too
            profiles = {name: profile for name, (_, profile) in loaded.items()
                        if profile is not None}
            return ScoringLoop(spec, bootstrap_servers, scorer, worker_id, profiles=profiles)

        self._start(build, f"loop-{worker_id}")

    def swap_model(self, name: str, timeout_s: float = 30.0) -> str:
        """Serve the version model ``name``'s store holds now, from the loop's next batch
        boundary (loaded here, off the loop); the version it serves."""
        loop = self._loop()
        return swap_to_current(loop.scorer, loop.swaps, loop.drift, self._model(name),
                           self.models[name], timeout_s)

    def set_candidate(self, name: str, timeout_s: float = 30.0) -> str:
        """Run the candidate model ``name``'s store holds now (or none) from the loop's next
        batch boundary; what runs."""
        loop = self._loop()
        return sync_candidate(loop.scorer, loop.swaps, self._model(name), self.models[name],
                              timeout_s)

    def _loop(self) -> ScoringLoop:
        if self.loop is None:
            raise StreamInferError(f"worker not running: {self.error}")
        return self.loop

    def _model(self, name: str) -> ModelSpec:
        return next(m for m in self.spec.model_specs if m.model_name == name)

    def stop(self, timeout_s: float = 30.0) -> WorkerStats | None:
        """:meth:`drain` then :meth:`close`."""
        self.drain(timeout_s)
        return self.close()
