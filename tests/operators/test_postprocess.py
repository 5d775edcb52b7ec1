"""model.postprocess on one prediction's outputs: softmax, threshold, class names, top-k,
read by role under the names model.outputs gives."""

from __future__ import annotations

import math

import pytest

from streaminfer.errors import ModelError
from streaminfer.operators.postprocess import PostProcess, Postprocessor, softmax
from streaminfer.operators.records import RecordError

RENAMED = {"label": "digit", "probabilities": "scores"}


def test_class_names_replace_the_label_index() -> None:
    post = Postprocessor(PostProcess(classes=("a", "b", "c")), RENAMED)
    assert post.apply({"digit": 2, "scores": [0.1, 0.2, 0.7]}) == {
        "digit": "c", "scores": [0.1, 0.2, 0.7]}
    with pytest.raises(RecordError) as info:
        post.apply({"digit": 3, "scores": [0.1, 0.2, 0.7]})
    assert info.value.error_type == "postprocess_error"
    assert "label 3 has no name in model.postprocess.classes (3 names)" in info.value.message


def test_a_threshold_decides_a_binary_label() -> None:
    post = Postprocessor(PostProcess(threshold=0.2), RENAMED)
    assert post.apply({"digit": 0, "scores": [0.75, 0.25]})["digit"] == 1
    assert post.apply({"digit": 1, "scores": [0.85, 0.15]})["digit"] == 0
    with pytest.raises(RecordError, match="for binary models; this one gives 3 scores"):
        post.apply({"digit": 0, "scores": [0.2, 0.3, 0.5]})


def test_top_k_with_scores_after_softmax_over_logits() -> None:
    post = Postprocessor(PostProcess(softmax=True, top_k=2, classes=("x", "y", "z")), RENAMED)
    row = post.apply({"digit": 0, "scores": [2.0, 0.0, 1.0]})
    total = math.exp(2) + 1 + math.e
    assert row["scores"] == pytest.approx([math.exp(2) / total, 1 / total, math.e / total])
    assert [t["label"] for t in row["top_k"]] == ["x", "z"]
    assert row["top_k"][0]["score"] == pytest.approx(math.exp(2) / total)
    assert row["digit"] == "x"
    plain = Postprocessor(PostProcess(top_k=1, top_k_field="best"), RENAMED)
    assert plain.apply({"digit": 1, "scores": [0.4, 0.6]})["best"] == [
        {"label": 1, "score": 0.6}]


def test_settings_the_published_outputs_do_not_allow_are_model_errors() -> None:
    with pytest.raises(ModelError, match=r"postprocess.top_k needs the 'probabilities'"):
        Postprocessor(PostProcess(top_k=2), {"label": "digit"})
    with pytest.raises(ModelError, match=r"'label' output is not published"):
        Postprocessor(PostProcess(classes=("a",)), {"probabilities": "p"})
    with pytest.raises(ModelError, match=r"top_k_field 'digit' is a field"):
        Postprocessor(PostProcess(top_k=1, top_k_field="digit"), RENAMED)


def test_softmax_does_not_overflow() -> None:
    assert softmax([1000.0, 1000.0]) == [0.5, 0.5]
