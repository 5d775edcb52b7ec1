"""The ``registry`` and ``retrain`` sections: where model versions live, how a candidate is made.

>>> spec = RetrainSpec.model_validate({
...     "estimator": {"class_path": "sklearn.linear_model.LogisticRegression"},
...     "source": {"topic": "training"},
...     "gate": [{"metric": "roc_auc", "max_drop": 0.005}],
... })
>>> spec.holdout_share, spec.source.since, spec.gate[0].metric
(0.2, 'champion', 'roc_auc')
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from streaminfer.operators.metric_table import METRICS
from streaminfer.pipelines.spec.base import FrozenModel, TopicName
from streaminfer.pipelines.spec.metric_names import MetricName, one_task
from streaminfer.pipelines.spec.retrain_policy_spec import RetrainPolicySpec

#: The tracking URI when neither the YAML nor ``MLFLOW_TRACKING_URI`` gives one (MLflow 3's own
#: default): a SQLite file in the current folder, so ``mlflow ui`` started there shows it.
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
REGISTERED_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
Anchor = Callable[[Path, Path], Path]


class RegistrySpec(FrozenModel):
    """The MLflow Model Registry that holds the model versions."""

    tracking_uri: str | None = Field(
        None,
        description="MLflow tracking URI (e.g. http://mlflow:5000, sqlite:///path/mlflow.db). "
        "Default: MLFLOW_TRACKING_URI from the environment, else sqlite:///mlflow.db in the "
        "current folder (MLflow's own default; artifacts in ./mlartifacts beside it).",
    )
    experiment: str = Field(
        "streaminfer", min_length=1,
        description="MLflow experiment that holds the runs behind registered versions.",
    )
    cache_dir: Path | None = Field(
        None,
        description="Where a pipeline downloads the model versions it names (models:/...); "
        "default: ~/.cache/streaminfer/models. Relative to this YAML file's folder.",
    )

    def resolve_paths(self, base: Path, anchor: Anchor) -> RegistrySpec:
        """A copy whose cache folder is absolute against ``base``."""
        if self.cache_dir is None:
            return self
        return self.model_copy(update={"cache_dir": anchor(self.cache_dir, base)})


class EstimatorSpec(FrozenModel):
    """What retraining fits: a scikit-learn class with its parameters, or your function."""

    class_path: str | None = Field(
        None, pattern=r"^[A-Za-z_][\w.]*\.[A-Za-z_]\w*$",
        description="A scikit-learn-compatible estimator class, e.g. "
        "sklearn.ensemble.RandomForestClassifier, built with 'params'.",
    )
    function: str | None = Field(
        None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$",
        description="Alternatively 'module:function', called as function(X, y, **params) "
        "and returning a fitted scikit-learn-compatible model that skl2onnx can convert.",
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments for the class or the function."
    )
    standardize: bool = Field(
        False, description="Put a StandardScaler before the class (ignored for 'function')."
    )

    @model_validator(mode="after")
    def _one_kind(self) -> EstimatorSpec:
        if (self.class_path is None) == (self.function is None):
            raise ValueError("give exactly one of 'class_path' (a scikit-learn class) or "
                             "'function' (module:function)")
        return self


class ExamplesSourceSpec(FrozenModel):
    """Where labelled examples come from: a range of the training topic, or files."""

    topic: TopicName | None = Field(
        None, description="Training topic of labelled examples (feedback.training_topic)."
    )
    since: Literal["champion", "earliest"] = Field(
        "champion",
        description="With 'topic' and no start_offsets: start after the champion's recorded "
        "data range ('champion'; the beginning when there is none) or at the beginning.",
    )
    start_offsets: dict[int, int] | None = Field(
        None, description="With 'topic': {partition: first offset}; other partitions start "
        "at their beginning.",
    )
    end_offsets: dict[int, int] | None = Field(
        None, description="With 'topic': {partition: offset to stop before}; default: each "
        "partition's high watermark when retraining starts.",
    )
    from_time_ms: int | None = Field(
        None, ge=0, description="With 'topic': only records with a timestamp at or after this "
        "(epoch ms).",
    )
    until_time_ms: int | None = Field(
        None, ge=0, description="With 'topic': only records with a timestamp before this.",
    )
    files: tuple[Path, ...] | None = Field(
        None, min_length=1, description="Instead of 'topic': CSV, JSONL or Parquet files of "
        "labelled examples (relative to this YAML file's folder).",
    )
    read_timeout_s: float = Field(
        120.0, gt=0, le=3_600, description="Longest the topic read may take.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> ExamplesSourceSpec:
        if (self.topic is None) == (self.files is None):
            raise ValueError("give exactly one of 'topic' (the training topic) or 'files'")
        return self


class GateRuleSpec(FrozenModel):
    """One rule on a holdout metric; a candidate passes the gate when every rule holds."""

    metric: MetricName = Field(
        description="Holdout metric (the metric table in docs/configuration.md).",
    )
    max_drop: float | None = Field(
        None, ge=0, description="Not lower than the champion's by more than this (metrics "
        "where higher is better).",
    )
    max_increase: float | None = Field(
        None, ge=0, description="Not higher than the champion's by more than this (metrics "
        "where lower is better).",
    )
    min: float | None = Field(None, description="At least this, whatever the champion does.")
    max: float | None = Field(None, description="At most this, whatever the champion does.")

    @model_validator(mode="after")
    def _one_bound(self) -> GateRuleSpec:
        bounds = [b for b in (self.max_drop, self.max_increase, self.min, self.max)
                  if b is not None]
        if len(bounds) != 1:
            raise ValueError("give exactly one of max_drop, max_increase, min or max")
        if self.max_drop is not None and not METRICS[self.metric].higher_is_better:
            raise ValueError(f"{self.metric}: lower is better, so it cannot drop too far; "
                             "use max_increase")
        if self.max_increase is not None and METRICS[self.metric].higher_is_better:
            raise ValueError(f"{self.metric}: higher is better, so it cannot rise too far; "
                             "use max_drop")
        return self


class RetrainSpec(FrozenModel):
    """``streaminfer retrain``: train a candidate on labelled examples, gate it, register it."""

    model_name: str | None = Field(
        None, pattern=REGISTERED_NAME,
        description="Registered model name; default: the NAME of the pipeline's "
        "models:/NAME@ALIAS, else the model's name.",
    )
    estimator: EstimatorSpec = Field(description="What to fit.")
    source: ExamplesSourceSpec = Field(description="Where the labelled examples come from.")
    label_field: str = Field("label", min_length=1, description="Field holding the label.")
    holdout_share: float = Field(
        0.2, gt=0, lt=1, description="Share of the newest examples (by labelled_at, else "
        "predicted_at, else their order) held out to evaluate candidate and champion.",
    )
    min_examples: int = Field(
        100, ge=2, description="Fewer labelled examples than this: nothing is trained.",
    )
    gate: tuple[GateRuleSpec, ...] = Field(
        default_factory=tuple, description="Rules the candidate's holdout metrics must meet; "
        "rules against the champion hold trivially while there is none.",
    )
    alias_on_pass: str = Field(
        "challenger", pattern=r"^[A-Za-z][A-Za-z0-9_-]*$",
        description="Alias the candidate gets when it passes the gate.",
    )
    seed: int = Field(
        0, description="random_state for estimators that take one and whose params lack it."
    )
    when: RetrainPolicySpec = Field(
        default_factory=RetrainPolicySpec, description="When a running pipeline would "
        "retrain by itself (off by default; docs/rollout.md).",
    )

    def resolve_paths(self, base: Path, anchor: Anchor) -> RetrainSpec:
        """A copy whose example files are absolute against ``base``."""
        if self.source.files is None:
            return self
        files = tuple(anchor(path, base) for path in self.source.files)
        return self.model_copy(
            update={"source": self.source.model_copy(update={"files": files})})

    def metric_fields(self) -> dict[str, str]:
        """Where each metric of the gate and the retrain trigger is given, and its name."""
        named = {f"retrain.gate.{i}.metric": rule.metric for i, rule in enumerate(self.gate)}
        if self.when.metric_floor is not None:
            named["retrain.when.metric_floor.metric"] = self.when.metric_floor.metric
        return named

    @model_validator(mode="after")
    def _one_task(self) -> RetrainSpec:
        one_task(self.metric_fields())
        return self

    @model_validator(mode="after")
    def _alias(self) -> RetrainSpec:
        if re.fullmatch(r"v\d+", self.alias_on_pass) or self.alias_on_pass in (
            "champion", "previous", "latest"
        ):
            raise ValueError(f"alias_on_pass {self.alias_on_pass!r} is reserved; "
                             "use e.g. 'challenger'")
        return self
