"""Score one micro-batch: decode -> route -> features -> model -> prediction, or a dead letter.

Pure composition of the operators, no Kafka: the worker feeds it records and produces what it
returns, so it is unit-testable with plain :class:`SourceRecord` values. Scoring has two
halves so that a worker can keep several batches at Ray Serve replicas at once:
:meth:`BatchScorer.prepare` decodes, routes and submits; :meth:`BatchScorer.finish` waits
for the model and builds the predictions, in input order.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from streaminfer.errors import ConfigError
from streaminfer.operators.codecs import Codec, JsonCodec
from streaminfer.operators.dead_letter import DeadLetter, dead_letter
from streaminfer.operators.feature_decode import FeatureDecoder
from streaminfer.operators.features import FeatureExtractor
from streaminfer.operators.inputs import Feed, FeedBuilder, take_rows
from streaminfer.operators.model_runner import ModelInfo
from streaminfer.operators.output_roles import output_field
from streaminfer.operators.predictions import event_id, feature_row, prediction
from streaminfer.operators.records import Record, RecordError
from streaminfer.operators.routing import Router
from streaminfer.pipelines.lifecycle.swap_rule import check_same_input
from streaminfer.pipelines.runtime.candidates import LoadedCandidate, agrees, canary_picks
from streaminfer.pipelines.runtime.model_backends import ModelBackend, Pending
from streaminfer.pipelines.spec.schema import SourceSpec

#: A prediction of one model version, encoded (or why it cannot be):
#: ``(record, event, event id, outputs, now_ms)`` -> bytes.
Encoder = Callable[[Record, dict[str, Any], Any, dict[str, Any], int], "bytes | RecordError"]


@dataclass
class ScoredBatch:
    """What one batch produces: encoded predictions (in input order) and dead letters."""

    predictions: list[tuple[bytes | None, bytes]] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    latencies_ms: list[int] = field(default_factory=list)
    inference_s: float = 0.0
    model_batch_failed: bool = False
    #: Per model name: the feature rows (or feed) it scored and their outputs (for drift).
    scored_rows: dict[str, tuple[Feed, list[dict[str, Any]]]] = field(
        default_factory=dict)
    #: A shadow candidate's predictions (for the shadow topic only).
    shadow_predictions: list[tuple[bytes | None, bytes]] = field(default_factory=list)
    #: Per (model, shadow version): [rows compared with the served output, rows agreeing].
    shadow_agreement: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    #: Texts cut to the tokenizer's max_length (model.tokenizer).
    truncated_texts: int = 0


@dataclass
class _Group:
    """The rows of one batch that one model scores."""

    model: str
    info: ModelInfo  # of the version that scores these rows (named by their predictions)
    positions: list[int]  # indices into PreparedBatch.kept
    pending: Pending
    matrix: Feed  # a feature matrix, or a feed by input name (model.inputs)


@dataclass
class PreparedBatch:
    """A batch whose model calls are under way."""

    records: list[Record]
    kept: list[tuple[Record, dict[str, Any], Any]]  # record, event, id: scored rows in order
    groups: list[_Group]
    dead_letters: list[DeadLetter]
    submit_s: float
    shadows: list[_Group] = field(default_factory=list)  # copies scored by a shadow
    truncated_texts: int = 0

    def done(self) -> bool:
        return all(group.pending.done() for group in self.groups + self.shadows)


class BatchScorer:
    """Turns records into predictions with one or more models, never raising for a bad
    record (a model that cannot be reached raises ``ModelUnavailableError`` from finish)."""

    def __init__(
        self, backends: Mapping[str, ModelBackend], source: SourceSpec, codec: Codec,
        router: Router | None = None, *, with_features: bool = False,
    ) -> None:
        """``with_features``: each prediction carries its feature row (for feedback)."""
        if len(backends) > 1 and router is None:
            raise ConfigError("several models need routing")
        widths = {b.info.input_width for b in backends.values()} - {None}
        if len(widths) > 1:
            raise ConfigError(
                "the models take different numbers of features "
                f"({', '.join(f'{n}: {b.info.input_width}' for n, b in backends.items())}); "
                "one source feeds them all"
            )
        width = next(iter(widths), None)
        if source.features is not None and width not in (None, len(source.features)):
            names = ", ".join(backends)
            raise ConfigError(
                f"source.features lists {len(source.features)} fields but model {names} "
                f"takes {width} features"
            )
        self.backends = dict(backends)
        self.router = router
        self.codec = codec
        self.extractors: dict[str, FeatureExtractor | FeedBuilder] = {
            name: backend.info.feed_builder() or _features(source, width, backend.info, name)
            for name, backend in backends.items()
        }
        self.only = next(iter(backends)) if len(backends) == 1 else None
        self.max_record_bytes = source.max_record_bytes
        self.id_field = source.id_field
        self.event_time_field = source.event_time_field
        self.feature_fields = list(source.features) if source.features is not None else None
        self.features_field = source.features_field
        self.with_features = with_features
        self.fast = _fast_decoder(self, source)
        self.candidates: dict[str, LoadedCandidate] = {}  # by model name (shadow or canary)
        self._encoders: dict[tuple[str, str], Encoder] = {}  # by (model, version)

    def score(self, records: list[Record]) -> ScoredBatch:
        return self.finish(self.prepare(records))

    def prepare(self, records: list[Record]) -> PreparedBatch:
        """Decode, validate and route each record; submit each model's rows. With one model
        fed by ``source.features`` from JSON, ``fast`` decodes a record straight to its feature
        row (``operators/feature_decode.py``); what it declines is decoded the general way."""
        refusals: dict[int, RecordError] = {}  # by record index
        by_model: dict[str, tuple[list[tuple[Record, dict[str, Any], Any]],
                                  list[Sequence[Any]], list[int]]] = {}
        fast, only, limit, id_field = self.fast, self.only, self.max_record_bytes, self.id_field
        if fast is not None:  # one model: what the fast decoder takes goes straight to it
            assert only is not None
            by_model[only] = fast_entries, fast_rows, fast_indices = [], [], []
        model: str
        row: Sequence[Any] | None
        for index, record in enumerate(records):
            value = record.value
            if fast is not None and type(value) is bytes and len(value) <= limit:
                decoded = fast.decode(value)
                if decoded is not None:
                    row, event = decoded
                    fast_entries.append((record, event, event_id(event, record, id_field)))
                    fast_indices.append(index)
                    fast_rows.append(row)
                    continue
            try:  # the general way
                event = self._decode(record)
                the_id = event_id(event, record, id_field)
                model = only or self._route(event, the_id)
                extractor = self.extractors[model]
                row = extractor.values(event) if isinstance(extractor, FeatureExtractor) \
                    else None  # model.inputs: each input for the whole batch, below
            except RecordError as error:
                refusals[index] = error
                continue
            scored_by = by_model.get(model)
            if scored_by is None:
                scored_by = by_model[model] = ([], [], [])
            entries, features, indices = scored_by
            entries.append((record, event, the_id))
            indices.append(index)
            if row is not None:
                features.append(row)
        for model, (entries, _, indices) in by_model.items():
            extractor = self.extractors[model]
            if isinstance(extractor, FeedBuilder):
                rows, refused = extractor.rows([event for _, event, _ in entries])
                for k, why in refused.items():
                    refusals[indices[k]] = why
                if refused:
                    entries = [e for k, e in enumerate(entries) if k not in refused]
                by_model[model] = (entries, [*rows], indices)
        dead = [dead_letter(records[i], refusals[i]) for i in sorted(refusals)]
        kept: list[tuple[Record, dict[str, Any], Any]] = []
        groups: list[_Group] = []
        shadows: list[_Group] = []
        started = time.perf_counter()
        truncated = 0
        for model, (entries, features, _) in by_model.items():
            if not entries:
                continue
            extractor = self.extractors[model]
            matrix, rejected = extractor.matrix(features)
            if isinstance(extractor, FeedBuilder):
                truncated += extractor.truncated(
                    [row for i, row in enumerate(features) if i not in rejected])
            positions = list(range(len(kept), len(kept) + len(entries) - len(rejected)))
            if rejected:
                for index, entry in enumerate(entries):
                    if index in rejected:
                        dead.append(dead_letter(entry[0], rejected[index]))
                    else:
                        kept.append(entry)
            else:
                kept.extend(entries)
            if positions:
                self._submit(model, positions, matrix, kept, groups, shadows)
        submit_s = time.perf_counter() - started
        if len(groups) > 1:  # restore input order across models
            order = sorted(range(len(kept)), key=lambda i: _arrival(kept[i][0]))
            where = {old: new for new, old in enumerate(order)}
            kept = [kept[i] for i in order]
            for group in groups + shadows:
                group.positions = [where[p] for p in group.positions]
        return PreparedBatch(records, kept, groups, dead, submit_s, shadows, truncated)

    def score_feed(self, records: list[Record], events: list[dict[str, Any]], ids: list[Any],
                   feed: Feed) -> ScoredBatch:
        """Score rows of the one model whose feed is built already (batch's column-wise
        path: ``pipelines/batch/typed_columns.py``), as :meth:`score` would."""
        assert self.only is not None
        kept = list(zip(records, events, ids, strict=True))
        groups: list[_Group] = []
        shadows: list[_Group] = []
        started = time.perf_counter()
        self._submit(self.only, list(range(len(kept))), feed, kept, groups, shadows)
        return self.finish(PreparedBatch(records, kept, groups, [],
                                         time.perf_counter() - started, shadows))

    def _submit(self, model: str, positions: list[int], matrix: Feed,
                kept: list[tuple[Record, dict[str, Any], Any]], groups: list[_Group],
                shadows: list[_Group]) -> None:
        """Submit one model's rows: to the served version, a canary's share to the
        candidate, and with a shadow a copy of them all to the shadow."""
        served, candidate = self.backends[model], self.candidates.get(model)
        if candidate is not None and candidate.mode == "canary":
            picks = np.array(canary_picks([kept[p][2] for p in positions], candidate.share),
                             dtype=bool)
            for backend, mask in ((served, ~picks), (candidate.version, picks)):
                if mask.any():
                    part = take_rows(matrix, mask)
                    chosen = [p for p, m in zip(positions, mask.tolist(), strict=True) if m]
                    groups.append(_Group(model, backend.info, chosen, backend.submit(part),
                                         part))
            return
        groups.append(_Group(model, served.info, positions, served.submit(matrix), matrix))
        if candidate is not None:
            shadows.append(_Group(model, candidate.version.info, positions,
                                  candidate.version.submit(matrix), matrix))

    def finish(self, batch: PreparedBatch) -> ScoredBatch:
        """Wait for the models and build the predictions, in input order."""
        out = ScoredBatch(dead_letters=list(batch.dead_letters),
                          truncated_texts=batch.truncated_texts)
        started = time.perf_counter()
        # per kept row, in order: the model's outputs (or why not) and its version's encoder
        results: list[Any] = []  # dict | RecordError
        encoders: list[Any] = []  # Encoder
        if len(batch.groups) == 1:  # its positions are every kept row, in order
            group = batch.groups[0]
            results = self._results(group, out)
            encoders = [self._encoder(group.info)] * len(batch.kept)
        elif batch.groups:
            results, encoders = [None] * len(batch.kept), [None] * len(batch.kept)
            for group in batch.groups:
                encode = self._encoder(group.info)
                for position, result in zip(group.positions, self._results(group, out),
                                            strict=True):
                    results[position], encoders[position] = result, encode
        shadow_rows = [(group, group.pending.result()[0]) for group in batch.shadows]
        out.inference_s = batch.submit_s + time.perf_counter() - started
        now_ms = int(time.time() * 1000)
        predictions, latencies = out.predictions, out.latencies_ms
        for (record, event, the_id), outputs, encode in zip(batch.kept, results, encoders,
                                                           strict=True):
            if isinstance(outputs, RecordError):
                out.dead_letters.append(dead_letter(record, outputs))
                continue
            encoded = encode(record, event, the_id, outputs, now_ms)
            if isinstance(encoded, RecordError):
                out.dead_letters.append(dead_letter(record, encoded))
                continue
            predictions.append((record.key, encoded))
            latencies.append(now_ms - record.timestamp)
        for group, rows in shadow_rows:
            self._shadow(batch, group, rows, results, now_ms, out)
        return out

    def _results(self, group: _Group, out: ScoredBatch) -> list[dict[str, Any] | RecordError]:
        """A group's model results (one per row), noted in ``out``."""
        rows, failed = group.pending.result()
        out.model_batch_failed |= failed
        if group.info.version == self.backends[group.model].info.version:
            out.scored_rows[group.model] = _kept_rows(group.matrix, rows)
        return rows

    def _shadow(self, batch: PreparedBatch, group: _Group,
                rows: list[dict[str, Any] | RecordError],
                served: Sequence[dict[str, Any] | RecordError | None],
                now_ms: int, out: ScoredBatch) -> None:
        """A shadow's predictions (for the shadow topic) and its agreement with the served
        ones; a row the shadow fails on is neither sent nor compared."""
        tally = out.shadow_agreement.setdefault((group.model, group.info.version), [0, 0])
        encode = self._encoder(group.info)
        for position, outputs in zip(group.positions, rows, strict=True):
            if isinstance(outputs, RecordError):
                continue
            record, event, the_id = batch.kept[position]
            encoded = encode(record, event, the_id, outputs, now_ms)
            if isinstance(encoded, RecordError):
                continue
            out.shadow_predictions.append((record.key, encoded))
            outcome = served[position]
            same = None if outcome is None or isinstance(outcome, RecordError) else \
                agrees(outcome, outputs, output_field("label", group.info.outputs))
            if same is not None:
                tally[0] += 1
                tally[1] += int(same)

    def _encoder(self, info: ModelInfo) -> Encoder:
        """How predictions of model version ``info`` are encoded (made once per version)."""
        key = (info.name, info.version)
        encode = self._encoders.get(key)
        if encode is None:
            encode = self._encoders[key] = self._make_encoder(info)
        return encode

    def _make_encoder(self, info: ModelInfo) -> Encoder:
        """One prediction of ``info``, post-processed and encoded; why not when it cannot be:
        a closure over what is fixed per version, not looked up per row (docs/decisions.md,
        2026-12-08)."""
        post = info.postprocessor() if info.postprocess is not None else None
        dump, name, version = self.codec.encode, info.name, info.version
        time_field = self.event_time_field
        feature_row = self._feature_row if self.with_features else None

        def encode(record: Record, event: dict[str, Any], the_id: Any,
                   outputs: dict[str, Any], now_ms: int) -> bytes | RecordError:
            if post is not None:
                try:
                    outputs = post.apply(outputs)
                except RecordError as error:
                    return error
            value = prediction(
                record=record, event_id=the_id, model=name, model_version=version,
                outputs=outputs, now_ms=now_ms,
                event_time=event.get(time_field) if time_field else None,
                features=feature_row(event, name) if feature_row is not None else None,
            )
            try:
                return dump(value)
            except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
                return RecordError("encode_error", f"prediction not encodable: {exc}",
                                   "encode")

        return encode

    def _feature_row(self, event: dict[str, Any], model: str) -> dict[str, Any]:
        extractor = self.extractors.get(model)
        if isinstance(extractor, FeedBuilder):
            return extractor.feature_row(event)
        return feature_row(event, self.feature_fields, self.features_field)

    def replace(self, name: str, backend: ModelBackend) -> ModelBackend:
        """Score model ``name`` with ``backend`` from the next batch on (a hot swap); the
        backend it replaces (check it first with :meth:`check_replacement`)."""
        old = self.backends[name]
        self.backends[name] = backend
        return old

    def set_candidate(self, name: str, candidate: LoadedCandidate | None
                      ) -> LoadedCandidate | None:
        """Run ``candidate`` beside model ``name`` from the next batch on (``None``: no
        candidate); the one it replaces."""
        old = self.candidates.pop(name, None)
        if candidate is not None:
            self.candidates[name] = candidate
        return old

    def check_replacement(self, name: str, backend: ModelBackend) -> None:
        """Raise ``ConfigError`` unless ``backend`` takes the input model ``name`` takes."""
        check_same_input(name, backend.info, self.backends[name].info)

    def _route(self, event: dict[str, Any], the_id: Any) -> str:
        assert self.router is not None
        return self.router.route(event, the_id)

    def _decode(self, record: Record) -> dict[str, Any]:
        if record.key is None and record.value is None:
            raise RecordError("empty_record", "empty record (no key, no value)", "decode")
        size = len(record.value) if record.value is not None else 0
        if size > self.max_record_bytes:
            raise RecordError(
                "oversized_record",
                f"record is {size} bytes, more than source.max_record_bytes "
                f"({self.max_record_bytes})",
                "decode",
            )
        return self.codec.decode_record(record)


def _features(source: SourceSpec, width: int | None, info: ModelInfo,
              name: str) -> FeatureExtractor:
    """The feature extractor of a model fed by ``source.features``/``features_field``."""
    if source.features is None and source.features_field is None:
        raise ConfigError(f"model {name} takes source.features, which is not given; give "
                          "source.features or map its inputs with model.inputs")
    return FeatureExtractor(fields=source.features, array_field=source.features_field,
                            width=width, dtype=info.input_dtype)


def _fast_decoder(scorer: BatchScorer, source: SourceSpec) -> FeatureDecoder | None:
    """The decoder of the scorer's fast path (:mod:`~streaminfer.operators.feature_decode`):
    one model fed by ``source.features`` from JSON events; None otherwise."""
    extractor = scorer.extractors[scorer.only] if scorer.only is not None else None
    if not isinstance(scorer.codec, JsonCodec) or not isinstance(extractor, FeatureExtractor) \
            or extractor.fields is None:
        return None
    return FeatureDecoder(extractor.fields, id_field=source.id_field,
                          event_time_field=source.event_time_field,
                          keep_features=scorer.with_features)


def _kept_rows(
    matrix: Feed, rows: list[dict[str, Any] | RecordError],
) -> tuple[Feed, list[dict[str, Any]]]:
    """The rows the model scored (not those it failed on) and their outputs."""
    ok = [i for i, row in enumerate(rows) if not isinstance(row, RecordError)]
    outputs = [row for row in rows if not isinstance(row, RecordError)]
    return (matrix if len(ok) == len(rows) else take_rows(matrix, ok)), outputs


def _arrival(record: Record) -> tuple[str, int, int]:
    return (record.topic, record.partition, record.offset)
