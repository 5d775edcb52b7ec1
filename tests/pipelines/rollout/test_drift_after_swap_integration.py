"""After a promotion, drift compares the stream with the promoted version's own training
profile (registered with it, downloaded beside it), in a window of its own, and its alerts
name it: a stream shifted away from v1's training data alerts for v1; once v2, trained on
data shifted the same way, serves, no alert names v2.

Margins as in tests/pipelines/online/test_drift_integration.py: rows drawn at random from
the (shifted) dataset have a sampling PSI of about 9/n against a profile of the same rows
(< 0.03 at 600 events), far below the 0.2 threshold; shifted by 3 sd, a feature has PSI > 1.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from streaminfer.operators.profile import profile_path
from streaminfer.pipelines.devtools.example_models import Dataset
from streaminfer.pipelines.lifecycle.registry import Lineage, Registry
from streaminfer.pipelines.lifecycle.retrain import write_profile
from streaminfer.pipelines.online.drift_watch import DriftState
from streaminfer.waiting import wait_until
from tests.fixtures.registry import registry_section
from tests.pipelines.online.test_drift_integration import _events

pytestmark = pytest.mark.integration
SHIFT = {"mean_texture": 3.0, "worst_area": 3.0}
EVENTS = 600


def shifted(dataset: Dataset) -> np.ndarray:
    """The dataset's rows with the SHIFT features moved by k standard deviations (as
    ``_events`` moves the events)."""
    X = dataset.X.copy()
    sd = dataset.X.std(axis=0)
    for name, k in SHIFT.items():
        column = dataset.features.index(name)
        X[:, column] += k * sd[column]
    return X


@pytest.fixture
def profiled_versions(registry: Registry, model_factory: Callable[[str], Path],
                      train_onnx: Callable[[np.ndarray, np.ndarray, str], Path],
                      dataset_factory: Callable[[str], Dataset], tmp_path: Path) -> Registry:
    """bc version 1 (the champion, the example model and its profile) and version 2 (trained
    and profiled on the shifted rows)."""
    bc = dataset_factory("breast_cancer")
    v1 = model_factory("breast_cancer")
    registry.register_model("bc", v1, metrics={}, lineage=Lineage("import"),
                            profile_path=profile_path(v1))
    X = shifted(bc)
    v2 = train_onnx(X, bc.y, "shifted")
    folder = tmp_path / "v2-profile"
    folder.mkdir()
    registry.register_model("bc", v2, metrics={}, lineage=Lineage("retrain", parent_version="1"),
                            profile_path=write_profile(folder, bc.features, X, v2.read_bytes()))
    registry.set_alias("bc", "champion", "1")
    return registry


def test_after_a_promotion_drift_compares_with_the_promoted_versions_profile(
    profiled_versions: Registry, pipeline_factory: Callable[..., Any],
    dataset_factory: Callable[[str], Dataset], produce: Callable[..., None],
    topic_factory: Callable[..., str], read_all: Callable[[str], list[Any]],
) -> None:
    registry = profiled_versions
    alerts_topic = topic_factory(1, prefix="alerts")
    running = pipeline_factory(
        partitions=2, model_options={"path": "models:/bc@champion"},
        registry=registry_section(registry), rollout={"poll_interval_s": 0.5},
        drift={"window_s": 600, "min_events": 400, "feature_threshold": 0.2,
               "prediction_threshold": 0.2, "alerts_topic": alerts_topic})
    pipeline, follower = running.pipeline, running.pipeline.follower
    assert follower is not None
    bc = dataset_factory("breast_cancer")

    def evaluated(version: str) -> DriftState | None:
        return next((s for s in pipeline.drift() if s.version == version and s.psi), None)

    def counted(version: str) -> int:
        state = evaluated(version)
        return state.rows if state is not None else 0

    keys, values = _events(bc, 0, EVENTS, seed=21, shift=SHIFT)
    produce(running.source_topic, values, keys)
    assert wait_until(lambda: counted("1") >= EVENTS, 120), pipeline.drift()
    v1 = evaluated("1")
    assert v1 is not None and set(SHIFT) <= set(v1.drifted) and v1.alerts >= len(SHIFT)

    registry.promote("bc", "2")
    assert wait_until(lambda: follower.serving == {"bc": "2"}, 60)
    keys, values = _events(bc, EVENTS, EVENTS, seed=22, shift=SHIFT)
    produce(running.source_topic, values, keys)
    assert wait_until(lambda: counted("2") >= EVENTS, 120), pipeline.drift()
    v2 = evaluated("2")
    assert v2 is not None
    assert v2.rows == EVENTS  # a window of its own: only what v2 scored
    assert v2.alerts == 0 and v2.drifted == [], v2.psi
    for name in SHIFT:  # against v1's profile these were > 1
        assert v2.psi[name] < 0.2
    pipeline.stop()  # its publisher flushed: the topic holds every alert, any extra too
    alerts = [orjson.loads(r.value) for r in read_all(alerts_topic)]
    assert len(alerts) == v1.alerts
    assert {(a["model"], a["version"]) for a in alerts} == {("bc", "1")}
