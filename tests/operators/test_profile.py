"""Training profiles: quantile bins with their shares, the prediction's bins, JSON round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from streaminfer.errors import DataError
from streaminfer.operators.profile import (
    Profile,
    build_profile,
    categorical_bins,
    numeric_bins,
    profile_path,
)


def test_numeric_bins_split_training_rows_into_tenths() -> None:
    values = np.arange(1000, dtype=np.float64)
    bins = numeric_bins("x", values)
    assert bins.size == 10
    assert bins.expected == pytest.approx([0.1] * 10)
    assert bins.counts(values).tolist() == [100] * 10


def test_bins_are_right_closed_and_open_at_both_ends() -> None:
    bins = numeric_bins("x", np.array([1.0, 2.0, 3.0, 4.0]), bins=2)
    assert bins.edges == (2.5,)
    assert bins.counts(np.array([-1e9, 2.5, 2.6, 1e9])).tolist() == [2, 2]


def test_a_feature_with_few_values_gets_fewer_bins() -> None:
    values = np.array([0.0] * 97 + [1.0] * 3)
    bins = numeric_bins("foreign", values)
    assert bins.size == 2
    assert bins.expected == pytest.approx([0.97, 0.03])


def test_categorical_bins_keep_a_bin_for_unseen_values() -> None:
    bins = categorical_bins("label", np.array([0, 1, 1, 2]))
    assert bins.categories == (0, 1, 2)
    assert bins.expected == pytest.approx([0.25, 0.5, 0.25, 0.0])
    assert bins.counts(np.array([2, 7, 7])).tolist() == [0, 0, 1, 2]


def test_binary_classifier_profiles_its_positive_probability() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(500, 3))
    p1 = 1 / (1 + np.exp(-X[:, 0]))
    outputs = {"label": (p1 > 0.5).astype(np.int64), "probabilities": np.c_[1 - p1, p1]}
    profile = build_profile(["a", "b", "c"], X, outputs)
    assert profile.prediction is not None
    assert (profile.prediction.output, profile.prediction.column) == ("probabilities", 1)
    rows = [{"label": int(lab), "probabilities": [float(1 - p), float(p)]}
            for lab, p in zip(outputs["label"], p1, strict=True)]
    assert profile.prediction.counts(profile.prediction.values(rows)).tolist() == [50] * 10


def test_multiclass_profiles_label_shares_and_regressor_its_output() -> None:
    X = np.arange(12, dtype=np.float64).reshape(6, 2)
    multi = build_profile(["a", "b"], X, {"probabilities": np.full((6, 3), 1 / 3),
                                          "label": np.array([0, 0, 1, 1, 2, 2])})
    assert multi.prediction is not None and multi.prediction.kind == "categorical"
    assert multi.prediction.expected == pytest.approx([1 / 3, 1 / 3, 1 / 3, 0.0])
    reg = build_profile(["a", "b"], X, [{"variable": float(v)} for v in range(6)])
    assert reg.prediction is not None and reg.prediction.output == "variable"


def test_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 2))
    profile = build_profile(["a", "b"], X, {"label": (X[:, 0] > 0).astype(np.int64)},
                            model_sha256="ab" * 32)
    path = profile.write(profile_path(tmp_path / "m.onnx"))
    assert path.name == "m.onnx.profile.json"
    assert Profile.read(path) == profile


def test_bad_profile_file_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text('{"rows": 3}')
    with pytest.raises(DataError, match="not a training profile"):
        Profile.read(path)
    with pytest.raises(DataError, match="no such profile"):
        Profile.read(tmp_path / "missing.json")


def test_shape_mismatch_is_refused() -> None:
    with pytest.raises(DataError, match="expected"):
        build_profile(["a"], np.zeros((4, 2)), {})


def test_published_reads_the_prediction_under_its_configured_field() -> None:
    X = np.arange(40, dtype=np.float64).reshape(20, 2)
    proba = np.stack([np.linspace(0.9, 0.1, 20), np.linspace(0.1, 0.9, 20)], axis=1)
    profile = build_profile(["a", "b"], X, {"label": (X[:, 0] > 19).astype(np.int64),
                                            "probabilities": proba})
    assert profile.prediction is not None and profile.prediction.output == "probabilities"
    renamed = profile.published({"label": "label", "probabilities": "p"})
    assert renamed.prediction is not None and renamed.prediction.output == "p"
    assert renamed.prediction.values([{"p": [0.3, 0.7]}]).tolist() == [0.7]
    assert profile.published(None) == profile
    unpublished = profile.published({"label": "label"})
    assert unpublished.prediction is None and unpublished.features == profile.features
