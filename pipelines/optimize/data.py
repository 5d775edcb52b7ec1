"""The labelled rows ``optimize`` judges variants on, and the feed that runs them: feature
columns for a model with one numeric input, or, for a model fed by ``model.inputs``
(pictures, text, token ids, several inputs), each row as an event through the model's own
feed builder, so calibration and measurement see exactly what a pipeline would feed."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from streaminfer.errors import ConfigError, DataError
from streaminfer.operators.labelled_feed import feed_of, named_labels
from streaminfer.operators.labelled_rows import (
    LabelledRows,
    labelled_events,
    labelled_rows,
    read_events,
    read_table,
)
from streaminfer.operators.model_runner import read_model_file
from streaminfer.pipelines.runtime.assembly import load_model
from streaminfer.pipelines.spec.schema import ModelSpec, PipelineSpec


@dataclass(frozen=True)
class OptimizeData:
    """Labelled rows, their feed by input name (``None``: ``rows.X`` feeds the one input),
    and the rows the feed builder refused, by reason."""

    rows: LabelledRows
    feed: dict[str, np.ndarray] | None = None
    refused: dict[str, int] = field(default_factory=dict)


def the_model(spec: PipelineSpec) -> ModelSpec:
    """The config's one model (optimize takes one)."""
    models = spec.model_specs
    if len(models) > 1:
        names = ", ".join(m.model_name for m in models)
        raise ConfigError(f"the config has several models ({names}); optimize takes one: "
                          "give a config with one model")
    return models[0]


def read_data(data: Path, spec: PipelineSpec | None, model_file: Path,
              label: str) -> OptimizeData:
    """The rows of ``data`` (CSV, JSONL or Parquet) for the model in ``model_file``, as the
    config (if any) feeds it."""
    model = the_model(spec) if spec is not None else None
    if model is None or (model.inputs is None and model.tokenizer is None):
        table = read_table(data)
        features, features_field = _features(spec, table.column_names, label)
        return OptimizeData(labelled_rows(table, features, label, features_field,
                                          where=str(data)))
    return typed_data(model, model_file, labelled_events(read_events(data), label, str(data)))


def typed_data(model: ModelSpec, model_file: Path, rows: LabelledRows) -> OptimizeData:
    """``rows`` (events) through the feed builder of ``model`` (its file: ``model_file``);
    labels given as class names (``model.postprocess.classes``) become class indices."""
    loaded = load_model(model.model_copy(update={"path": model_file, "sha256": None}),
                        read_model_file(model_file))
    builder = loaded.info.feed_builder()
    assert builder is not None  # model.inputs or a tokenizer feeds it
    feed, kept, refused = feed_of(builder, rows)
    if not isinstance(feed, dict):
        raise DataError(f"model {loaded.info.name}: its feed builder made no named inputs")
    names = loaded.info.postprocess.classes if loaded.info.postprocess is not None else None
    if names is not None:
        kept = replace(kept, y=named_labels(kept.y, names))
    return OptimizeData(kept, feed, refused)


def _features(spec: PipelineSpec | None, columns: list[str],
              label: str) -> tuple[list[str] | None, str | None]:
    """Feature names (or the list field), from the pipeline YAML or else the file's columns
    in order, less the label."""
    if spec is None:
        return [c for c in columns if c != label], None
    features = list(spec.source.features) if spec.source.features else None
    return features, spec.source.features_field


def batch_sizes(spec: PipelineSpec | None) -> tuple[int, ...]:
    """The batch sizes timed besides 1: 256, and the config's batching.max_size."""
    return (256,) if spec is None else tuple(sorted({256, spec.batching.max_size}))
