"""The scoring actor of Ray Data's ``map_batches``: loads the models once, then reads,
scores and writes whole units with the online path's :class:`BatchScorer` (and, for
numeric Parquet/CSV rows into Parquet, the column-wise :class:`ArrowScorer`; for Parquet/CSV
rows of a model fed by ``model.inputs``, the column-wise :class:`TypedColumns`; picture
files as the events of ``pictures.py``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from streaminfer.operators.arrow_scoring import ArrowScorer
from streaminfer.operators.batch_units import Unit
from streaminfer.operators.dead_letter import DeadLetter
from streaminfer.operators.features import FeatureExtractor
from streaminfer.operators.inputs import FeedBuilder
from streaminfer.operators.records import Record
from streaminfer.pipelines.batch.outputs import OutputFormat, PartFiles, TopicUnit, UnitOutput
from streaminfer.pipelines.batch.pictures import PictureFiles, picture_field, with_files
from streaminfer.pipelines.batch.rows import jsonl_records, read_table, table_records
from streaminfer.pipelines.batch.typed_columns import TypedColumns
from streaminfer.pipelines.runtime.assembly import build_scorer, load_model
from streaminfer.pipelines.runtime.model_backends import LocalModel
from streaminfer.pipelines.spec.schema import PipelineSpec

#: The columns of what the actor returns for each unit.
RESULT_COLUMNS = ("key", "rows", "predictions", "dead_letters")


@dataclass(frozen=True)
class Target:
    """Where predictions go: a folder of part files, or topics (with the Kafka settings)."""

    folder: str | None = None
    fmt: OutputFormat = "parquet"
    predictions_topic: str | None = None
    dead_letter_topic: str | None = None
    kafka: dict[str, Any] | None = None


@dataclass
class Piece:
    """Part of a unit, scored: predictions as encoded values or as an Arrow table."""

    rows: int
    predictions: list[tuple[bytes | None, bytes]] = field(default_factory=list)
    table: Any = None
    dead_letters: list[DeadLetter] = field(default_factory=list)

    @property
    def scored(self) -> int:
        return len(self.predictions) + (self.table.num_rows if self.table is not None else 0)


class UnitScorer:
    """Callable class for ``map_batches``: each input row is one unit (as JSON)."""

    def __init__(self, spec: PipelineSpec, models: dict[str, bytes], target: Target,
                 source_kafka: dict[str, Any] | None, batch_size: int) -> None:
        loaded = {m.model_name: load_model(m, models[m.model_name]) for m in spec.model_specs}
        self.scorer = build_scorer(spec, {n: LocalModel(m) for n, m in loaded.items()})
        self.columnar = None
        self.numeric = spec.source.features or ()  # CSV cells parsed as numbers, one by one
        # Not with a feedback section: its predictions carry their feature rows, which only
        # the row path writes.
        if len(loaded) == 1 and spec.source.features and target.kafka is None \
                and target.fmt == "parquet" and not self.scorer.with_features:
            (name, model), = loaded.items()
            extractor = self.scorer.extractors[name]
        else:
            extractor = None
        # Not a model fed by model.inputs, nor one whose outputs are post-processed.
        if isinstance(extractor, FeatureExtractor) and model.info.postprocess is None:
            self.columnar = ArrowScorer(  # the row path's model and feature extractor
                model, extractor, id_field=spec.source.id_field,
                event_time_field=spec.source.event_time_field,
                max_record_bytes=spec.source.max_record_bytes)
        self.typed = None
        if self.columnar is None and len(loaded) == 1 and not self.scorer.with_features:
            builder = next(iter(self.scorer.extractors.values()))
            if isinstance(builder, FeedBuilder) and TypedColumns.fits(builder):
                self.typed = TypedColumns(self.scorer, builder)  # the row path's operators
        field = picture_field(spec)
        self.pictures = None if field is None else PictureFiles(
            field, spec.source.id_field, spec.source.max_record_bytes,
            spec.batching.max_bytes)
        self.target = target
        self.source_kafka = source_kafka
        self.batch_size = batch_size
        self.sink = None
        self.delivery = spec.sink.delivery
        if target.kafka is not None:  # Kafka's client is imported only by jobs that use it
            from streaminfer.pipelines.kafka.sink import KafkaSink

            self.sink = KafkaSink(target.kafka, linger_ms=spec.sink.linger_ms,
                                  compression=spec.sink.compression)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[Any]]:
        results: dict[str, list[Any]] = {name: [] for name in RESULT_COLUMNS}
        for text in batch["unit"]:
            unit = Unit.from_dict(orjson.loads(text))
            counts = self.score_unit(unit)
            for name, value in zip(RESULT_COLUMNS, (unit.key, *counts), strict=True):
                results[name].append(value)
        return results

    def score_unit(self, unit: Unit) -> tuple[int, int, int]:
        """Read, score and write one unit; returns (rows, predictions, dead_letters)."""
        output = self._output(unit)
        rows = predictions = dead_letters = 0
        try:
            for piece in self._pieces(unit):
                output.add(piece.predictions, piece.dead_letters, piece.table)
                rows += piece.rows
                predictions += piece.scored
                dead_letters += len(piece.dead_letters)
            output.commit()
        except BaseException:
            output.abort()
            raise
        return rows, predictions, dead_letters

    def _pieces(self, unit: Unit) -> Iterator[Piece]:
        stamp = int(time.time() * 1000)
        if unit.kind == "topic":
            from streaminfer.pipelines.batch.topic_source import read_topic_unit

            assert self.source_kafka is not None
            for records in read_topic_unit(self.source_kafka, unit, self.batch_size):
                yield self._row_path(records)
            return
        if unit.kind == "pictures":
            assert self.pictures is not None, "picture units are planned for picture inputs"
            for records, unread, originals in self.pictures.chunks(unit, stamp,
                                                                   self.batch_size):
                piece = self._row_path(records) if records else Piece(rows=0)
                piece.rows += len(unread)
                piece.dead_letters = [*with_files(piece.dead_letters, originals), *unread]
                yield piece
            return
        if unit.kind == "jsonl":
            for records in jsonl_records(unit.path, stamp, self.batch_size):
                yield self._row_path(records)
            return
        table, first, refused = read_table(unit, stamp, self.numeric)
        if refused:
            yield Piece(rows=len(refused), dead_letters=refused)
        columnar = self.columnar if self.columnar and self.columnar.usable(table.schema) \
            else None
        typed = self.typed if self.typed and self.typed.usable(table.schema) else None
        for start in range(0, table.num_rows, self.batch_size):
            part = table.slice(start, self.batch_size)
            rest = np.arange(part.num_rows)
            if columnar is not None:
                scored, rest = columnar.score(part, topic=unit.path, first_offset=first + start,
                                              stamp_ms=stamp, now_ms=int(time.time() * 1000))
                if scored is not None:
                    yield Piece(rows=scored.num_rows, table=scored)
            elif typed is not None:
                batch, rest = typed.score(part, topic=unit.path, first_offset=first + start,
                                          stamp_ms=stamp)
                if batch is not None:
                    yield Piece(rows=part.num_rows - len(rest), predictions=batch.predictions)
            if len(rest):
                yield self._row_path(table_records(part.take(rest), unit.path,
                                                   first + start + rest, stamp))

    def _row_path(self, records: list[Record]) -> Piece:
        scored = self.scorer.score(records)
        return Piece(rows=len(records), predictions=scored.predictions,
                     dead_letters=scored.dead_letters)

    def _output(self, unit: Unit) -> UnitOutput:
        if self.sink is not None:
            assert self.target.predictions_topic and self.target.dead_letter_topic
            return TopicUnit(self.sink, self.target.predictions_topic,
                             self.target.dead_letter_topic, self.delivery)
        assert self.target.folder is not None
        return PartFiles(Path(self.target.folder), unit.key, self.target.fmt)

    def __del__(self) -> None:
        if getattr(self, "sink", None) is not None:
            self.sink.close()  # type: ignore[union-attr]
