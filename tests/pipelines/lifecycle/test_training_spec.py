"""The registry and retrain sections, and models:/ references in a pipeline YAML."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from streaminfer.errors import ConfigError
from streaminfer.pipelines.spec.loader import load_spec, parse_spec
from streaminfer.pipelines.spec.model_spec import RegistryRef

PIPELINE = {
    "name": "p",
    "source": {"topics": ["events"], "group_id": "g", "features": ["a", "b"]},
    "model": {"path": "models:/fraud@champion"},
    "sink": {"predictions_topic": "preds", "dead_letter_topic": "dlq"},
}
RETRAIN = {"estimator": {"class_path": "sklearn.linear_model.LogisticRegression"},
           "source": {"files": ["data/examples.jsonl"]}}


def write(tmp_path: Path, **sections: object) -> Path:
    path = tmp_path / "configs" / "p.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({**PIPELINE, **sections}))
    return path


def test_a_registry_reference_is_kept_and_names_the_model(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, registry={"cache_dir": "cache"}, retrain=RETRAIN))
    model = spec.model_specs[0]
    assert model.registry_ref == RegistryRef("fraud", alias="champion")
    assert str(model.path) == "models:/fraud@champion" and model.model_name == "fraud"
    assert spec.registry is not None and spec.registry.cache_dir == tmp_path / "configs/cache"
    assert spec.retrain is not None
    assert spec.retrain.source.files == (tmp_path / "configs/data/examples.jsonl",)


def test_a_version_reference_and_a_file_path(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, model={"path": "models:/fraud/12"}))
    assert spec.model_specs[0].registry_ref == RegistryRef("fraud", version="12")
    plain = load_spec(write(tmp_path, model={"path": "../m/fraud.onnx"}))
    assert plain.model_specs[0].registry_ref is None
    assert plain.model_specs[0].path == tmp_path / "m/fraud.onnx"


@pytest.mark.parametrize(("section", "message"), [
    ({"model": {"path": "models:/fraud"}}, "model.path: .*models:/NAME@ALIAS"),
    ({"model": {"path": "models:/fraud@"}}, "model.path"),
    ({"retrain": {**RETRAIN, "holdout": 0.2}}, "did you mean 'holdout_share'"),
    ({"retrain": {**RETRAIN, "source": {}}}, "exactly one of 'topic'"),
    ({"retrain": {**RETRAIN, "estimator": {}}}, "exactly one of 'class_path'"),
    ({"retrain": {**RETRAIN, "alias_on_pass": "champion"}}, "reserved"),
    ({"retrain": {**RETRAIN, "gate": [{"metric": "r2", "max_increase": 1}]}},
     "retrain.gate.0: .*higher is better"),
    ({"registry": {"url": "x"}}, "registry.url: unknown key"),
])
def test_mistakes_name_the_field(section: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_spec(yaml.safe_dump({**PIPELINE, **section}))
