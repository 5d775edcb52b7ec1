"""Score labelled rows with one model and compute every number the report shows.

Scoring is the pipeline's own: the model file read with its sha256 check and run by ONNX
Runtime as the config sets it up; a model fed by ``model.inputs`` gets each row through its
own feed builder (the rows it refuses are counted by reason, as dead letters would be, and
left out). Metrics are ``operators.quality``'s (scikit-learn's). Labels are class indices,
or the class names of ``model.postprocess.classes``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from sklearn import metrics as skm

from streaminfer.errors import DataError
from streaminfer.operators.drift import count_batch
from streaminfer.operators.input_profile import input_mismatch
from streaminfer.operators.inputs import Feed, feed_rows, take_rows
from streaminfer.operators.labelled_feed import BATCH, feed_of, named_labels
from streaminfer.operators.labelled_rows import LabelledRows
from streaminfer.operators.metric_intervals import (
    LEVEL,
    RESAMPLES,
    SEED,
    classifier_intervals,
    regressor_intervals,
)
from streaminfer.operators.metric_table import primary_metric as table_primary
from streaminfer.operators.model_runner import ModelInfo, OnnxModel, read_model_file
from streaminfer.operators.profile import Profile, output_columns, profile_path
from streaminfer.operators.quality import classifier_metrics, regressor_metrics
from streaminfer.pipelines.lifecycle.versions import version_label
from streaminfer.pipelines.runtime.assembly import load_model
from streaminfer.pipelines.spec.schema import ModelSpec
from streaminfer.pipelines.validation import classifier_detail as detail
from streaminfer.pipelines.validation import drift_detail
from streaminfer.pipelines.validation.slices import slice_table, slice_values

TIME_BUCKETS = 10


@dataclass
class Scored:
    """A model's outputs on every row: the class probabilities or the regression value."""

    kind: str  # "classifier" | "regressor"
    values: np.ndarray  # [n, k] probabilities, or [n] predictions
    rows: list[dict[str, Any]]


@dataclass
class ModelReport:
    """Every number about one model on the data (the JSON report holds them as they are)."""

    name: str
    path: str
    version: str
    sha256: str
    kind: str
    rows: int
    metrics: dict[str, float]
    #: Per metric, its bootstrap percentile interval (``interval_method`` says how).
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    interval_method: str = (f"{LEVEL:.0%} bootstrap percentile interval, {RESAMPLES} "
                            f"resamples of the rows, seed {SEED}")
    classes: list[Any] | None = None
    class_names: list[str] | None = None  # model.postprocess.classes, by class index
    confusion_matrix: list[list[int]] | None = None
    #: The confusion matrix's rows as percentages of each true class's rows.
    confusion_matrix_normalized: list[list[float]] | None = None
    per_class: dict[str, Any] | None = None
    roc_curve: dict[str, list[float]] | None = None
    pr_curve: dict[str, Any] | None = None
    calibration: dict[str, list[float]] | None = None
    residuals: dict[str, Any] | None = None
    drift: dict[str, float] | None = None  # PSI by feature, highest first
    #: Per feature (highest PSI first): PSI, the chi-squared test, both samples' bin shares.
    drift_tests: list[dict[str, Any]] | None = None
    drift_test_method: str | None = None
    over_time: dict[str, list[dict[str, Any]]] | None = None
    #: Per model version that served the rows (``model_version``): its rows, and the metrics
    #: with intervals ``served`` (of the outputs recorded with the rows, when they carry
    #: them) and ``rescored`` (this model's on the same rows).
    by_version: dict[str, dict[str, Any]] | None = None
    #: ``--slice FIELD``: the primary metric and its interval per value of the field.
    slices: dict[str, Any] | None = None
    over_time_source: str | None = None
    #: Rows the model's feed refused (``model.inputs``), by dead-letter reason; left out.
    refused: dict[str, int] = field(default_factory=dict)
    plots: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # for plots only

    @property
    def label(self) -> str:
        """The model as tables and headings name it: ``bc v2``, ``bc sha256 af27c3d1e2f0``."""
        return f"{self.name} {version_label(self.version)}"


def score(model: OnnxModel, X: Feed, advance: Callable[[int], None] | None = None,
          ) -> Scored:
    """Run ``model`` over ``X`` (a matrix, or a feed of every input) in batches;
    classifier when it outputs 2-D probabilities."""
    results: list[list[Any]] = []
    if isinstance(X, np.ndarray):
        X = X.astype(model.info.input_dtype)
    count = feed_rows(X)
    for start in range(0, count, BATCH):
        results.append(model.run(take_rows(X, slice(start, start + BATCH))))
        if advance is not None:
            advance(min(BATCH, count - start))
    names = list(model.info.outputs.values())
    columns = {name: np.concatenate([np.asarray(r[i]) for r in results])
               for i, name in enumerate(names)}
    rows = model.rows([columns[n] for n in names], count)
    for column in columns.values():
        if column.ndim == 2 and column.shape[1] >= 2 and column.dtype.kind == "f":
            return Scored("classifier", column.astype(np.float64), rows)
    for column in columns.values():
        flat = column.reshape(count, -1)
        if flat.shape[1] == 1 and column.dtype.kind == "f":
            return Scored("regressor", flat[:, 0].astype(np.float64), rows)
    raise DataError(f"model {model.info.name}: no probabilities ([n, k]) nor one numeric "
                    "output to validate")


def evaluate(model_spec: ModelSpec, data: LabelledRows, *, path: Path | None = None,
             advance: Callable[[int], None] | None = None,
             slice_field: str | None = None) -> ModelReport:
    """Score ``data`` with the model (``path`` overrides its file) and measure it (per
    value of ``slice_field`` too)."""
    path = path or model_spec.path
    sha = model_spec.sha256 if path == model_spec.path else None
    model = load_model(model_spec.model_copy(update={"path": path, "sha256": None}),
                       read_model_file(path, sha))
    if len(data.y) == 0:
        raise DataError("no labelled rows to validate")
    builder = model.info.feed_builder()
    refused: dict[str, int] = {}
    X: Feed = data.X
    if builder is not None:
        if data.events is None:
            raise DataError(f"model {model.info.name} takes model.inputs: read the rows as "
                            "events")
        X, data, refused = feed_of(builder, data)
    scored = score(model, X, advance)
    info = model.info
    report = ModelReport(info.name, str(path), info.version, info.sha256, scored.kind,
                         len(data.y), {}, refused=refused)
    names = info.postprocess.classes if info.postprocess is not None else None
    if names is not None:
        data = replace(data, y=named_labels(data.y, names))
    if scored.kind == "classifier":
        _classifier(report, data.y, scored.values, names)
    else:
        _regressor(report, data.y, scored.values)
    if slice_field is not None:
        labels = _labels(data.y, scored.values.shape[1] if scored.kind == "classifier"
                         else None)
        report.slices = slice_table(scored.kind, labels, scored.values,
                                    slice_values(data, slice_field), slice_field)
    report.drift_tests = _drift(Path(path), info, data, X, scored)
    if report.drift_tests is not None:
        report.drift = {row["feature"]: row["psi"] for row in report.drift_tests}
        report.drift_test_method = drift_detail.METHOD
    _over_time(report, data, scored)
    return report


def _labels(y: np.ndarray, classes: int | None) -> np.ndarray:
    """The labels as class indices (``classes`` given) or numbers; a clear error if not."""
    missing = int(sum(v is None for v in y.tolist()))
    if missing:
        raise DataError(f"{missing} of {len(y)} rows have no label")
    try:
        values = y.astype(np.float64)
    except (TypeError, ValueError):
        raise DataError(f"labels must be numbers (found e.g. {y[0]!r})") from None
    if classes is None:
        return values
    bad = ~np.isin(values, np.arange(classes))
    if bad.any():
        raise DataError(f"the model has {classes} classes, so labels must be 0..{classes - 1}; "
                        f"{int(bad.sum())} row(s) are not (e.g. {y[bad][0]!r})")
    return values.astype(np.int64)


def _classifier(report: ModelReport, y: np.ndarray, proba: np.ndarray,
                names: tuple[str, ...] | None = None) -> None:
    classes = list(range(proba.shape[1]))
    labels = _labels(y, len(classes))
    report.classes = classes
    if names is not None and len(names) == len(classes):
        report.class_names = list(names)
    report.metrics = classifier_metrics(labels, proba, classes)
    report.intervals = classifier_intervals(labels, proba, len(classes))
    predicted = np.argmax(proba, axis=1)
    report.confusion_matrix = skm.confusion_matrix(labels, predicted, labels=classes).tolist()
    report.confusion_matrix_normalized = detail.normalized_confusion(
        np.asarray(report.confusion_matrix))
    report.per_class = detail.per_class(labels, predicted, len(classes), report.class_names)
    report.plots["confusion"] = np.asarray(report.confusion_matrix)
    if len(classes) == 2 and len(np.unique(labels)) == 2:
        fpr, tpr, _ = skm.roc_curve(labels == 1, proba[:, 1])
        report.roc_curve = {"fpr": fpr.tolist(), "tpr": tpr.tolist()}
        report.pr_curve = detail.pr_curve(labels == 1, proba[:, 1])
    positive = (labels == 1) if len(classes) == 2 else (labels == predicted)
    confidence = proba[:, 1] if len(classes) == 2 else proba.max(axis=1)
    report.calibration = detail.calibration(positive.astype(np.float64), confidence)


def _regressor(report: ModelReport, y: np.ndarray, predicted: np.ndarray) -> None:
    targets = _labels(y, None)
    report.metrics = regressor_metrics(targets, predicted)
    report.intervals = regressor_intervals(targets, predicted)
    residual = targets - predicted
    report.residuals = {"mean": float(residual.mean()), "std": float(residual.std()),
                        "min": float(residual.min()), "max": float(residual.max())}
    report.plots["predicted"] = predicted
    report.plots["residual"] = residual


def _drift(path: Path, info: ModelInfo, data: LabelledRows, X: Feed, scored: Scored,
           ) -> list[dict[str, Any]] | None:
    """PSI and a test per feature (per input) of the data against the model's training
    profile (``None`` without a profile); the prediction read under the field the model
    publishes it as (``model.outputs``)."""
    where = profile_path(path)
    if not where.is_file():
        return None
    profile = Profile.read(where)
    if profile.model_sha256 not in (None, info.sha256) or input_mismatch(profile, info) or (
            info.bindings is None and len(profile.features) != data.X.shape[1]):
        return None
    profile = profile.published(info.outputs)
    return drift_detail.drift_table(profile, count_batch(profile, X, scored.rows))


def primary_metric(kind: str) -> str:
    """The metric a model of ``kind`` is judged by over time (the metric table's primary)."""
    return table_primary("classifier" if kind == "classifier" else "regressor")


def primary_value(kind: str, y: np.ndarray, values: np.ndarray) -> float:
    """The primary metric of ``values`` against labels ``y``, by the shared definition."""
    if kind == "classifier":
        got = classifier_metrics(y.astype(np.int64), values, list(range(values.shape[1])))
    else:
        got = regressor_metrics(y.astype(np.float64), values)
    return got[primary_metric(kind)]


def _over_time(report: ModelReport, data: LabelledRows, scored: Scored) -> None:
    """The primary metric per model version over time, when the rows say which version
    served them and when: from the served outputs if the rows carry them, else this
    model's predictions on the same rows."""
    names = data.table.column_names
    if "model_version" not in names or "predicted_at" not in names:
        return
    versions = np.asarray(data.table.column("model_version").to_pylist(), dtype=object)
    times = np.asarray(data.table.column("predicted_at").to_pylist(), dtype=np.float64)
    values, report.over_time_source = scored.values, "rescored"
    served = _served_values(data, scored)
    if served is not None:
        values, report.over_time_source = served, "served"
    report.by_version = _by_version(scored.kind, data.y, versions.astype(str), scored.values,
                                    served)
    metric = primary_metric(scored.kind)
    report.over_time = {}
    for version in sorted({str(v) for v in versions}):
        index = np.flatnonzero(versions.astype(str) == version)
        index = index[np.argsort(times[index], kind="stable")]
        points = []
        for chunk in np.array_split(index, min(TIME_BUCKETS, len(index))):
            value = primary_value(scored.kind, data.y[chunk], values[chunk])
            points.append({"from_ms": int(times[chunk[0]]), "to_ms": int(times[chunk[-1]]),
                           "rows": len(chunk), metric: value})
        report.over_time[version] = points


def measure(kind: str, y: np.ndarray, values: np.ndarray) -> dict[str, Any]:
    """Every metric of ``values`` against labels ``y``, and their intervals."""
    if kind == "classifier":
        classes = values.shape[1]
        labels = _labels(y, classes)
        return {"metrics": classifier_metrics(labels, values, list(range(classes))),
                "intervals": classifier_intervals(labels, values, classes)}
    targets = _labels(y, None)
    return {"metrics": regressor_metrics(targets, values),
            "intervals": regressor_intervals(targets, values)}


def _by_version(kind: str, y: np.ndarray, versions: np.ndarray, rescored: np.ndarray,
                served: np.ndarray | None) -> dict[str, dict[str, Any]]:
    """Per version: rows, metrics as served (``None`` without served outputs) and as
    re-scored by this model, on the rows that version served."""
    out = {}
    for version in sorted(set(versions.tolist())):
        index = np.flatnonzero(versions == version)
        out[version] = {"rows": len(index),
                        "served": None if served is None else measure(kind, y[index],
                                                                      served[index]),
                        "rescored": measure(kind, y[index], rescored[index])}
    return out


def _served_values(data: LabelledRows, scored: Scored) -> np.ndarray | None:
    """The served outputs (the ``outputs`` objects of labelled examples) in the form of
    ``scored.values``, or ``None`` when rows lack them."""
    if "outputs" not in data.table.column_names or not scored.rows:
        return None
    recorded = data.table.column("outputs").to_pylist()
    field_name = next((name for name, column in output_columns(scored.rows[:1]).items()
                       if (column.ndim == 2) == (scored.kind == "classifier")), None)
    if field_name is None or any(not isinstance(r, dict) or r.get(field_name) is None
                                 for r in recorded):
        return None
    values = np.asarray([r[field_name] for r in recorded], dtype=np.float64)
    if scored.kind == "regressor":
        values = values.reshape(len(values), -1)[:, 0]
    return values if values.shape == scored.values.shape else None


def finite(value: float) -> float | None:
    """A number for JSON: NaN as ``None``."""
    return None if math.isnan(value) else value
