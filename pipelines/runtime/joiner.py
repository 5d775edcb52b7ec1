"""The join loop: read predictions and labels of the same partitions, join, produce, commit.

:class:`JoinLoop` is a :class:`~streaminfer.pipelines.runtime.loop.Loop` (plain Python, one
thread); ``joiner_actor.py`` runs it in a Ray actor. It owns partition i of the predictions
topic and partition i of the labels topic together, for the partitions it is given (manual
assignment, computed by the pool: no rebalance can separate the two halves of a partition).
Every ``feedback.flush_every_ms`` it delivers what it joined (and the expired predictions, to
``feedback.unmatched_topic``) by the spec's ``sink.delivery`` policy: it produces its outbox,
awaits every acknowledgement (sending again only the records not acknowledged), and then
commits, per partition of each topic, only up to the lowest offset still pending: a joiner
that dies loses nothing, its successor reads the pending entries again. Before it produces,
it commits how far it has read under a second group (``<group>-read``), so a successor knows
which records it reads again.

It remembers what it joined across restarts: the examples of prediction partition i go to
partition i of the training topic, and with its input offsets the joiner commits (under its
group, on the training topic) where a restore must start to find every example whose
prediction lies above the committed offset (:class:`RestoreStart`). A new joiner reads those
ids back (``restore.py``) before it reads anything else, so a prediction read again whose
example is out is not joined again (``replayed_match``), and a later label for it is a
``duplicate_label``: the first label wins, and no example is published twice.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, Protocol

import orjson
from kafka import TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from streaminfer.operators.join_state import (
    JoinState,
    RestoreStart,
    Side,
    commit_offsets,
    labelled_example,
)
from streaminfer.operators.live_window import LiveWindow
from streaminfer.operators.records import Record
from streaminfer.pipelines.kafka.factory import new_consumer
from streaminfer.pipelines.kafka.sink import KafkaSink, Sink
from streaminfer.pipelines.runtime.delivery import Outbox, Outgoing
from streaminfer.pipelines.runtime.joiner_metrics import JoinerMetrics, JoinerStats
from streaminfer.pipelines.runtime.joiner_restore import Restored, read_published
from streaminfer.pipelines.runtime.loop import Loop
from streaminfer.pipelines.spec.feedback_spec import FeedbackSpec
from streaminfer.pipelines.spec.kafka_settings import client_config
from streaminfer.pipelines.spec.schema import PipelineSpec

log = logging.getLogger(__name__)

POLL_MS = 100
MAX_POLL_RECORDS = 5_000
#: Longest a joiner may take to read back what it joined before it reads anything else (it
#: fails, and Ray restarts it, past this).
RESTORE_TIMEOUT_S = 900.0


def join_key(value: Any) -> Hashable:
    """An id as a dict key (ids are JSON values: lists and objects become their JSON)."""
    if isinstance(value, (str, int, float, bool)):
        return value
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def score_of(outputs: dict[str, Any], fb: FeedbackSpec) -> Any:
    """What the live window needs of a prediction: its probabilities (a list of numbers) or
    its value (a number); ``None`` when it has neither (the example is still published)."""
    proba = outputs.get(fb.live.probabilities_field)
    if isinstance(proba, list):
        return [float(p) for p in proba] if proba and all(map(_is_number, proba)) else None
    value = outputs.get(fb.live.value_field)
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    return float(value) if value is not None and _is_number(value) else None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class JoinConsumer(Protocol):
    """What the joiner needs of a consumer: kafka-python's ``KafkaConsumer`` with manually
    assigned partitions (or the in-memory twin ``pipelines.kafka.memory.MemoryConsumer``)."""

    def assign(self, partitions: list[TopicPartition]) -> None: ...

    def poll(self, timeout_ms: int = ..., max_records: int = ...
             ) -> Mapping[TopicPartition, Sequence[Record]]: ...

    def committed(self, tp: TopicPartition) -> int | None: ...

    def commit(self, offsets: dict[TopicPartition, Any]) -> None: ...

    def close(self, autocommit: bool = ...) -> None: ...


#: Reads back the ids on the joiner's partitions of the training topic, from these offsets.
ReadBack = Callable[[dict[int, int]], Restored]


class JoinLoop(Loop[JoinerStats]):
    """One joiner over ``partitions`` until :meth:`request_stop`.

    With ``shadow_topic`` it joins a shadow's predictions (that topic) to the labels instead,
    under its own group (``<group>-shadow``), for the live window only: it publishes no
    labelled examples and no unmatched predictions (the served predictions' joiner does).
    """

    def __init__(self, spec: PipelineSpec, bootstrap_servers: str, joiner_id: str,
                 partitions: list[int], *, sink: Sink | None = None,
                 consumer: Callable[[str], JoinConsumer] | None = None,
                 read_back: ReadBack | None = None,
                 shadow_topic: str | None = None) -> None:
        """``sink``: where examples go (default: a :class:`KafkaSink`); ``consumer(group)``:
        a consumer committing under that group (default: one from ``new_consumer``);
        ``read_back``: how a restore reads the training topic (default:
        :func:`read_published`). The loop closes what it is given (the in-memory twins of
        ``pipelines.kafka.memory`` test its logic)."""
        assert spec.feedback is not None
        super().__init__(spec.sink.delivery)
        fb = self.fb = spec.feedback
        self.spec, self.joiner_id = spec, joiner_id
        self.shadow = shadow_topic is not None
        self.topics: dict[str, Side] = {shadow_topic or spec.sink.predictions_topic:
                                        "prediction", fb.labels_topic: "label"}
        config = client_config(spec.kafka, bootstrap_servers)
        config["client_id"] = f"{spec.kafka.client_id}-{joiner_id}"
        self.read_back: ReadBack = read_back or (lambda starts: read_published(
            config, fb.training_topic, starts, example_id, timeout_s=RESTORE_TIMEOUT_S))
        self.sink = sink or KafkaSink(config, linger_ms=fb.flush_every_ms,
                                      compression=spec.sink.compression)
        try:
            self.consumer, self.marks = self._consumers(
                consumer or (lambda group: new_consumer(
                    config, group_id=group, auto_offset_reset="earliest",
                    fetch_max_wait_ms=fb.fetch_max_wait_ms, max_poll_records=MAX_POLL_RECORDS)),
                partitions)
        except BaseException:
            self.sink.close()
            raise
        self.replay_until = self._replay_marks()
        self.marked: dict[tuple[Side, int], int] = dict(self.replay_until)
        self.state = JoinState(prediction_wait_s=fb.prediction_wait_s,
                               label_wait_s=fb.label_wait_s, max_pending=fb.max_pending)
        self.restore_start: dict[int, RestoreStart] = {}  # per partition; none for a shadow
        self.restore_committed: dict[int, int | None] = {}
        self.training_end: dict[int, int] = {}  # next offset of our examples, per partition
        self.training_out: Counter[int] = Counter()  # examples in the outbox, per partition
        self._partitions = partitions
        self.window = LiveWindow(fb.live.window, int(fb.live.max_age_s * 1000))
        self.metrics = JoinerMetrics(joiner_id, partitions)
        self.positions: dict[tuple[Side, int], int] = {}
        self.committed: dict[tuple[Side, int], int] = {}
        self.outbox = Outbox()
        self.examples = self.unmatched = 0  # in the outbox
        self._next_flush = time.monotonic()

    def _consumers(self, new: Callable[[str], JoinConsumer],
                   partitions: list[int]) -> tuple[JoinConsumer, JoinConsumer]:
        """The reader of both topics' ``partitions`` (manually assigned, committing under the
        feedback group) and the committer of read marks (``<group>-read``)."""
        group = self.fb.consumer_group(self.spec.source.group_id) + (
            "-shadow" if self.shadow else "")
        consumer = new(group)
        self.tps = [TopicPartition(topic, p) for topic in self.topics for p in partitions]
        consumer.assign(self.tps)
        try:
            marks = new(f"{group}-read")
        except BaseException:
            consumer.close(autocommit=False)
            raise
        return consumer, marks

    def _replay_marks(self) -> dict[tuple[Side, int], int]:
        """How far the last owner of each partition had read when it last produced."""
        marks: dict[tuple[Side, int], int] = {}
        for tp in self.tps:
            mark = self.marks.committed(tp)
            if mark is not None:
                marks[(self.topics[tp.topic], tp.partition)] = mark
        return marks

    def _restore(self, partitions: list[int]) -> None:
        """Remember as joined the ids already on this joiner's partitions of the training
        topic, read from the restore start its last owner committed (in the loop's thread,
        before the first poll: a long restore does not hold up the pool's start)."""
        training, predictions = self.fb.training_topic, self.spec.sink.predictions_topic
        committed = {p: self.consumer.committed(TopicPartition(predictions, p))
                      for p in partitions}
        self.restore_committed = {p: self.consumer.committed(TopicPartition(training, p))
                                  for p in partitions}
        restored = self.read_back({p: s or 0 for p, s in self.restore_committed.items()})
        now = time.monotonic()
        self.state.restore(restored.ids, now)
        for p in partitions:
            self.training_end[p] = restored.ends[p]
            self.restore_start[p] = RestoreStart(
                committed=committed[p] or 0, start=restored.starts[p],
                replayed_until=self.replay_until.get(("prediction", p), 0), now=now,
                remember_s=self.fb.label_wait_s)
        log.info("%s: %d joined ids restored from %d examples on %s", self.joiner_id,
                 len(restored.ids), restored.examples, training)

    def start(self) -> None:
        """Read back what was joined, before the first poll (not a shadow's joiner)."""
        if not self.shadow and not self.restore_start:
            self._restore(self._partitions)

    def finish(self) -> None:
        """Deliver and commit what is joined, giving up after ``sink.delivery.attempts``."""
        self._flush(final=True)

    def step(self) -> None:
        """Poll, join, expire; flush and commit when due."""
        batches = self.consumer.poll(timeout_ms=POLL_MS, max_records=MAX_POLL_RECORDS)
        now = time.monotonic()
        for tp, records in batches.items():
            self._take(self.topics[tp.topic], records, now)
        for entry in self.state.expire(now):
            if self.fb.unmatched_topic is not None and not self.shadow:  # replayed too
                self.outbox.add(Outgoing(self.fb.unmatched_topic, _key(entry.key),
                                         entry.value))
                self.unmatched += 1
        if now >= self._next_flush:
            self._flush(final=False)
            self._next_flush = time.monotonic() + self.fb.flush_every_ms / 1000

    def _take(self, side: Side, records: Sequence[Record], now: float) -> None:
        invalid = 0
        for record in records:
            where = (side, record.partition)
            self.positions[where] = record.offset + 1
            replayed = record.offset < self.replay_until.get(where, -1)
            try:
                key, value = (self._prediction(record) if side == "prediction"
                              else self._label(record))
            except ValueError:
                invalid += 1
                continue
            add = self.state.add_prediction if side == "prediction" else self.state.add_label
            join = add(key, value, partition=record.partition, offset=record.offset, now=now,
                       replayed=replayed)
            if join is not None:
                self._emit(join.prediction, join.label, record.partition)
        self.metrics.record_read(side, len(records), invalid)

    def _prediction(self, record: Record) -> tuple[Hashable, bytes]:
        """Its id; the raw value is what waits (decoded again when its label comes)."""
        value = _decode(record.value)
        if "id" not in value:
            raise ValueError("no id")
        assert record.value is not None
        return join_key(value["id"]), record.value

    def _label(self, record: Record) -> tuple[Hashable, tuple[Any, int]]:
        value = _decode(record.value)
        fb = self.fb
        if fb.id_field not in value or fb.label_field not in value:
            raise ValueError("no id or label")
        at = value.get(fb.label_time_field) if fb.label_time_field else None
        return join_key(value[fb.id_field]), (
            value[fb.label_field], at if isinstance(at, int) else record.timestamp)

    def _emit(self, raw: bytes, label: tuple[Any, int], partition: int) -> None:
        """An example to the training topic's ``partition`` (the prediction's)."""
        prediction = orjson.loads(raw)
        example = labelled_example(prediction, label[0], label[1])
        if not self.shadow:
            self.outbox.add(Outgoing(self.fb.training_topic, _key(join_key(example["id"])),
                                     orjson.dumps(example), partition))
            self.training_out[partition] += 1
            self.examples += 1
        score = score_of(example["outputs"], self.fb)
        if score is not None:
            self.window.add(str(example["model"]), str(example["model_version"]), label[0],
                            score, labelled_at_ms=label[1],
                            delay_ms=int(example["label_delay_ms"] or 0))

    def _flush(self, *, final: bool) -> None:
        """Mark what was read, then deliver the outbox: produce, await every ack (sending
        again only what was not acknowledged), then commit what is safe. Running, it retries
        until acknowledged or asked to stop (then :meth:`finish` tries again); ``final``, it
        gives up after ``sink.delivery.attempts``, uncommitted: a successor joins those
        records again."""
        if self.outbox and not self._mark_read():
            return  # produce only what a successor would know it may have produced

        def produce(attempt: int) -> int:
            return self.outbox.produce(self.sink, self.delivery.ack_timeout_s)

        def retry(attempt: int, exc: Exception, delay: float) -> None:
            self.metrics.record_retry()
            log.warning("%s: %s; producing the %d records not acknowledged again in %.1fs",
                        self.joiner_id, exc, len(self.outbox), delay)

        done = self.deliver(produce, lambda _: self._delivered(), give_up=final,
                            on_retry=retry)
        if not done.delivered:  # asked to stop (finish tries again), or given up
            self.metrics.record_retry()
        if not done.delivered and final:
            log.warning("%s: giving up on %d records uncommitted after %d attempt(s) (%s); "
                        "they will be joined again", self.joiner_id, len(self.outbox),
                        done.attempts, done.error)

    def _delivered(self) -> None:
        """After every record of the outbox was acknowledged: count, then commit."""
        self._note_training_end()
        counts = self.state.counts
        self.metrics.record_flush(
            examples=self.examples, unmatched=self.unmatched, cases=counts,
            pending={side: len(entries) for side, entries in self.state.pending.items()})
        self.examples = self.unmatched = 0
        self._commit()

    def _note_training_end(self) -> None:
        """After every example of a flush was acknowledged: where the next ones will land."""
        for p, count in self.training_out.items():
            self.training_end[p] += count
        self.training_out.clear()
        now = time.monotonic()
        for p, start in self.restore_start.items():
            position = self.positions.get(("prediction", p))
            if position is not None:  # else nothing of p read, nothing of p published
                start.note(position=position, end=self.training_end[p], now=now)

    def _commit(self) -> None:
        """Commit the input offsets, then the restore starts that go with them (a restore
        start never runs ahead of its predictions' committed offset)."""
        wanted = commit_offsets(self.positions, self.state.low_offsets())
        changed = {where: off for where, off in wanted.items()
                   if self.committed.get(where) != off}
        if changed:
            try:
                self.consumer.commit(self._offsets(changed))
            except KafkaError as exc:  # the next flush commits again; nothing is lost
                log.warning("%s: commit failed (%s)", self.joiner_id, exc)
                return
            self.committed.update(changed)
        now = time.monotonic()
        starts = {p: where.start(self.committed[("prediction", p)], now=now)
                  for p, where in self.restore_start.items()
                  if ("prediction", p) in self.committed}
        starts = {p: s for p, s in starts.items() if self.restore_committed.get(p) != s}
        if not starts:
            return
        try:
            self.consumer.commit({TopicPartition(self.fb.training_topic, p):
                                  OffsetAndMetadata(s, "", -1) for p, s in starts.items()})
        except KafkaError as exc:  # the older start stays valid: it only reads more
            log.warning("%s: commit of the restore start failed (%s)", self.joiner_id, exc)
            return
        self.restore_committed.update(starts)

    def _mark_read(self) -> bool:
        """Commit how far this joiner has read (under ``<group>-read``); False if refused."""
        changed = {where: max(off, self.marked.get(where, 0))
                   for where, off in self.positions.items() if self.marked.get(where, 0) < off}
        if not changed:
            return True
        try:
            self.marks.commit(self._offsets(changed))
        except KafkaError as exc:
            log.warning("%s: cannot mark what was read (%s); producing later", self.joiner_id,
                        exc)
            return False
        self.marked.update(changed)
        return True

    def _offsets(self, offsets: dict[tuple[Side, int], int]) -> dict[TopicPartition, Any]:
        names = {side: topic for topic, side in self.topics.items()}
        return {TopicPartition(names[side], part): OffsetAndMetadata(offset, "", -1)
                for (side, part), offset in offsets.items()}

    def stats(self, families: bool = True) -> JoinerStats:
        now_ms = int(time.time() * 1000)
        return self.metrics.snapshot(running=self._running, window=self.window.rows(now_ms),
                                     families=families)

    def close(self) -> None:
        self.consumer.close(autocommit=False)
        self.marks.close(autocommit=False)
        self.sink.close()


def _decode(value: bytes | None) -> dict[str, Any]:
    try:
        decoded = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        raise ValueError("not JSON") from None
    if not isinstance(decoded, dict):
        raise ValueError("not an object")
    return decoded


def example_id(value: bytes | None) -> Hashable | None:
    """The id of a labelled example (None: not one)."""
    try:
        example = _decode(value)
    except ValueError:
        return None
    return join_key(example["id"]) if "id" in example else None


def _key(key: Hashable) -> bytes:
    return key if isinstance(key, bytes) else str(key).encode()
