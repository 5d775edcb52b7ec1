"""Score one micro-batch: decode -> features -> model -> prediction, or a dead letter each.

Pure composition of the operators, no Kafka: the worker feeds it records and produces what
it returns, so it is unit-testable with plain :class:`SourceRecord` values.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from streaminfer.operators.codecs import JsonCodec
from streaminfer.operators.dead_letter import DeadLetter, dead_letter
from streaminfer.operators.features import FeatureExtractor
from streaminfer.operators.model_runner import OnnxModel
from streaminfer.operators.predictions import event_id, prediction
from streaminfer.operators.records import Record, RecordError
from streaminfer.pipelines.spec import SourceSpec


@dataclass
class ScoredBatch:
    """What one batch produces: encoded predictions (in input order) and dead letters."""

    predictions: list[tuple[bytes | None, bytes]] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    latencies_ms: list[int] = field(default_factory=list)
    inference_s: float = 0.0
    model_batch_failed: bool = False


class BatchScorer:
    """Turns records into predictions with one model, never raising for a bad record."""

    def __init__(self, model: OnnxModel, source: SourceSpec, codec: JsonCodec) -> None:
        info = model.info
        if source.features is not None and info.input_width not in (None, len(source.features)):
            from streaminfer.errors import ConfigError

            raise ConfigError(
                f"source.features lists {len(source.features)} fields but model "
                f"{info.name} takes {info.input_width} features"
            )
        self.model = model
        self.codec = codec
        self.features = FeatureExtractor(
            fields=source.features, array_field=source.features_field,
            width=info.input_width, dtype=info.input_dtype,
        )
        self.max_record_bytes = source.max_record_bytes
        self.id_field = source.id_field
        self.event_time_field = source.event_time_field

    def score(self, records: list[Record]) -> ScoredBatch:
        out = ScoredBatch()
        kept: list[tuple[Record, dict[str, Any]]] = []
        rows: list[Sequence[float]] = []
        for record in records:
            try:
                event = self._decode(record)
                rows.append(self.features.values(event))
                kept.append((record, event))
            except RecordError as error:
                out.dead_letters.append(dead_letter(record, error))
        matrix, rejected = self.features.matrix(rows)
        if rejected:
            for index, reason in sorted(rejected.items()):
                out.dead_letters.append(dead_letter(kept[index][0], reason))
            kept = [pair for index, pair in enumerate(kept) if index not in rejected]
        started = time.perf_counter()
        results, out.model_batch_failed = self._infer(matrix)
        out.inference_s = time.perf_counter() - started
        now_ms = int(time.time() * 1000)
        info = self.model.info
        for (record, event), outputs in zip(kept, results, strict=True):
            if isinstance(outputs, RecordError):
                out.dead_letters.append(dead_letter(record, outputs))
                continue
            value = prediction(
                record=record, event_id=event_id(event, record, self.id_field),
                model=info.name, model_version=info.version, outputs=outputs, now_ms=now_ms,
                event_time=event.get(self.event_time_field) if self.event_time_field else None,
            )
            try:
                encoded = self.codec.encode(value)
            except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
                unencodable = RecordError(
                    "encode_error", f"prediction not encodable: {exc}", "encode"
                )
                out.dead_letters.append(dead_letter(record, unencodable))
                continue
            out.predictions.append((record.key, encoded))
            out.latencies_ms.append(value["latency_ms"])
        return out

    def _decode(self, record: Record) -> dict[str, Any]:
        size = len(record.value) if record.value is not None else 0
        if size > self.max_record_bytes:
            raise RecordError(
                "oversized_record",
                f"record is {size} bytes, more than source.max_record_bytes "
                f"({self.max_record_bytes})",
                "decode",
            )
        return self.codec.decode(record.value)

    def _infer(self, matrix: np.ndarray) -> tuple[list[dict[str, Any] | RecordError], bool]:
        """Run the batch; if it fails, run each row alone so good rows still get scored.

        Returns one result per row and whether the batch as a whole failed.
        """
        if len(matrix) == 0:
            return [], False
        try:
            return list(self.model.predict_rows(matrix)), False
        except Exception:
            return [self._infer_one(matrix[i : i + 1]) for i in range(len(matrix))], True

    def _infer_one(self, row: np.ndarray) -> dict[str, Any] | RecordError:
        try:
            return self.model.predict_rows(row)[0]
        except Exception as exc:
            return RecordError("model_error", f"model run failed: {exc}", "model")
