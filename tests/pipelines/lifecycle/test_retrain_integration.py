"""Retraining from a training topic of labelled examples (made from a shipped dataset, in the
contract's shape), measured against the champion on the same holdout, gated, registered."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from streaminfer.operators.profile import Profile, profile_path
from streaminfer.pipelines.devtools.example_models import Dataset
from streaminfer.pipelines.lifecycle.registry import Lineage, Registry
from streaminfer.pipelines.lifecycle.retrain import retrain
from streaminfer.pipelines.spec.schema import PipelineSpec

from .conftest import labelled_examples

pytestmark = pytest.mark.integration
GATE = [{"metric": "roc_auc", "max_drop": 0.01}, {"metric": "log_loss", "max_increase": 0.05},
        {"metric": "accuracy", "min": 0.9}]
TrainOnnx = Callable[[np.ndarray, np.ndarray, str], Path]


def retrain_spec(factory: Callable[..., PipelineSpec], registry: Registry, topic: str,
                 **retrain_options: Any) -> PipelineSpec:
    return factory(
        model_options={"path": "models:/bc@champion"},
        registry={"tracking_uri": registry.uri, "cache_dir": str(registry.cache_dir)},
        retrain={"estimator": {"class_path": "sklearn.linear_model.LogisticRegression",
                               "params": {"max_iter": 1000}, "standardize": True},
                 "source": {"topic": topic}, "gate": GATE, **retrain_options})


@pytest.fixture
def champion(registry: Registry, train_onnx: TrainOnnx,
             dataset_factory: Callable[[str], Dataset]) -> np.ndarray:
    """Version 1, the champion: trained on 60 rows; returns the rows left for examples."""
    data = dataset_factory("breast_cancer")
    order = np.random.default_rng(7).permutation(len(data.y))
    onnx = train_onnx(data.X[order[:60]], data.y[order[:60]], "champion")
    registry.register_model("bc", onnx, metrics={}, lineage=Lineage("import"))
    registry.set_alias("bc", "champion", "1")
    return order[60:]


def test_a_better_candidate_passes_the_gate_and_becomes_the_challenger(
    registry: Registry, champion: np.ndarray, dataset_factory: Callable[[str], Dataset],
    topic_factory: Callable[..., str], produce: Callable[..., None],
    pipeline_spec_factory: Callable[..., PipelineSpec],
) -> None:
    data = dataset_factory("breast_cancer")
    topic = topic_factory(partitions=2, prefix="training")
    first, later = champion[:400], champion[400:]
    produce(topic, labelled_examples(data, first), [f"e{r}".encode() for r in first])
    spec = retrain_spec(pipeline_spec_factory, registry, topic)

    result = retrain(spec, registry=registry)
    assert (result.train_count, result.holdout_count, result.skipped) == (320, 80, 0)
    assert result.gate.passed, result.gate.reasons
    assert result.champion is not None and result.champion.version == "1"
    assert result.champion_metrics is not None
    assert result.metrics["roc_auc"] > 0.97 and result.metrics["accuracy"] >= 0.9
    version = registry.resolve("bc", "challenger")
    assert version.version == result.version.version == "2"
    assert version.tags["gate"] == "passed" and version.tags["parent_version"] == "1"
    assert version.tags["produced_by"] == "retrain"
    span = version.data_range
    assert span is not None and span["topic"] == topic
    assert sum(end - start for start, end in span["partitions"].values()) == 400
    logged = registry.metrics(version)
    assert logged["roc_auc"] == result.metrics["roc_auc"]
    assert logged["champion.roc_auc"] == result.champion_metrics["roc_auc"]
    # Its training profile lies beside the downloaded model, where drift looks for it.
    profile = Profile.read(profile_path(registry.fetch(version)))
    assert profile.feature_names == tuple(data.features) and profile.rows == 320

    # Promoted, it is the champion; the next retrain reads only what came after its range.
    registry.promote("bc")
    produce(topic, labelled_examples(data, later), [f"e{r}".encode() for r in later])
    assert spec.retrain is not None
    fewer = spec.retrain.model_copy(update={"min_examples": 50})
    again = retrain(spec.model_copy(update={"retrain": fewer}), registry=registry)
    assert again.train_count + again.holdout_count == len(later)
    assert again.champion is not None and again.champion.version == "2"
    next_span = again.version.data_range
    assert next_span is not None
    assert {p: s[0] for p, s in next_span["partitions"].items()} == {
        p: s[1] for p, s in span["partitions"].items()}


def test_a_candidate_trained_on_shuffled_labels_is_rejected_and_never_aliased(
    registry: Registry, champion: np.ndarray, dataset_factory: Callable[[str], Dataset],
    topic_factory: Callable[..., str], produce: Callable[..., None],
    pipeline_spec_factory: Callable[..., PipelineSpec], ray_session: None,
) -> None:
    data = dataset_factory("breast_cancer")
    topic = topic_factory(partitions=2, prefix="training")
    rows = champion[:400]
    labels = data.y[rows].copy()
    labels[:320] = np.random.default_rng(3).permutation(labels[:320])  # the training share
    produce(topic, labelled_examples(data, rows, labels), [f"e{r}".encode() for r in rows])

    result = retrain(retrain_spec(pipeline_spec_factory, registry, topic), registry=registry,
                     address="auto")  # as a Ray task on the session's Ray
    assert not result.gate.passed
    assert result.champion_metrics is not None
    assert result.metrics["roc_auc"] < result.champion_metrics["roc_auc"] - 0.01
    rejected = registry.resolve("bc", result.version.version)
    assert rejected.rejected and rejected.aliases == ()
    assert rejected.tags["gate_reason"] == result.gate.reason
    assert "roc_auc" in result.gate.reason
    assert registry.aliases("bc") == {"champion": "1"}
    assert not math.isnan(registry.metrics(rejected)["roc_auc"])
