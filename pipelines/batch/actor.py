"""The scoring actor of Ray Data's ``map_batches``: loads the models once, then reads,
scores and writes whole units with the online path's :class:`BatchScorer`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from streaminfer.operators.batch_units import Unit
from streaminfer.operators.kafka_sink import KafkaSink
from streaminfer.pipelines.batch.outputs import OutputFormat, PartFiles, TopicUnit, UnitOutput
from streaminfer.pipelines.batch.rows import read_file_unit
from streaminfer.pipelines.batch.topic_source import read_topic_unit
from streaminfer.pipelines.online.assembly import build_scorer, load_model
from streaminfer.pipelines.online.model_backends import LocalModel
from streaminfer.pipelines.spec.schema import PipelineSpec

#: The columns of what the actor returns for each unit.
RESULT_COLUMNS = ("key", "rows", "predictions", "rejects")


@dataclass(frozen=True)
class Target:
    """Where predictions go: a folder of part files, or topics (with the Kafka settings)."""

    folder: str | None = None
    fmt: OutputFormat = "parquet"
    predictions_topic: str | None = None
    rejects_topic: str | None = None
    kafka: dict[str, Any] | None = None


class UnitScorer:
    """Callable class for ``map_batches``: each input row is one unit (as JSON)."""

    def __init__(self, spec: PipelineSpec, models: dict[str, bytes], target: Target,
                 source_kafka: dict[str, Any] | None, batch_size: int) -> None:
        backends = {m.model_name: LocalModel(load_model(m, models[m.model_name]))
                    for m in spec.model_specs}
        self.scorer = build_scorer(spec, backends)
        self.target = target
        self.source_kafka = source_kafka
        self.batch_size = batch_size
        self.sink = (KafkaSink(target.kafka, linger_ms=spec.sink.linger_ms,
                               compression=spec.sink.compression)
                     if target.kafka is not None else None)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[Any]]:
        results: dict[str, list[Any]] = {name: [] for name in RESULT_COLUMNS}
        for text in batch["unit"]:
            unit = Unit.from_dict(orjson.loads(text))
            counts = self.score_unit(unit)
            for name, value in zip(RESULT_COLUMNS, (unit.key, *counts), strict=True):
                results[name].append(value)
        return results

    def score_unit(self, unit: Unit) -> tuple[int, int, int]:
        """Read, score and write one unit; returns (rows, predictions, rejects)."""
        output = self._output(unit)
        rows = predictions = rejects = 0
        try:
            for records, refused in self._read(unit):
                scored = self.scorer.score(records)
                output.add(scored.predictions, refused + scored.dead_letters)
                rows += len(records) + len(refused)
                predictions += len(scored.predictions)
                rejects += len(refused) + len(scored.dead_letters)
            output.commit()
        except BaseException:
            output.abort()
            raise
        return rows, predictions, rejects

    def _read(self, unit: Unit) -> Any:
        if unit.kind == "topic":
            assert self.source_kafka is not None
            return read_topic_unit(self.source_kafka, unit, self.batch_size)
        return read_file_unit(unit, self.batch_size)

    def _output(self, unit: Unit) -> UnitOutput:
        if self.sink is not None:
            assert self.target.predictions_topic and self.target.rejects_topic
            return TopicUnit(self.sink, self.target.predictions_topic, self.target.rejects_topic)
        assert self.target.folder is not None
        return PartFiles(Path(self.target.folder), unit.key, self.target.fmt)

    def __del__(self) -> None:
        if getattr(self, "sink", None) is not None:
            self.sink.close()  # type: ignore[union-attr]
