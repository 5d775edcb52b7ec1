"""Turn a classifier's raw outputs into the answer a user wants (``model.postprocess``):
softmax over logits, a decision threshold for a binary model, class names for the label,
the top k classes with their scores.

It works on one prediction's published outputs, found by role (``operators/output_roles.py``),
so picking and renaming outputs with ``model.outputs`` keeps working.

The threshold decides the label; ``top_k`` lists classes by score:

>>> post = Postprocessor(PostProcess(classes=("legit", "fraud"), threshold=0.3, top_k=1),
...                      {"label": "is_fraud", "probabilities": "p"})
>>> post.apply({"is_fraud": 0, "p": [0.6, 0.4]})
{'is_fraud': 'fraud', 'p': [0.6, 0.4], 'top_k': [{'label': 'legit', 'score': 0.6}]}
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from streaminfer.errors import ModelError
from streaminfer.operators.output_roles import output_field
from streaminfer.operators.records import RecordError


@dataclass(frozen=True)
class PostProcess:
    """What to do to a classifier's outputs (the spec's ``model.postprocess``)."""

    softmax: bool = False
    classes: tuple[str, ...] | None = None
    threshold: float | None = None
    top_k: int | None = None
    top_k_field: str = "top_k"


_FLOAT = frozenset((float,))


class Postprocessor:
    """Applies a :class:`PostProcess` to one prediction's published outputs."""

    def __init__(self, post: PostProcess, outputs: Mapping[str, str], model: str = "model",
                 reserved: frozenset[str] = frozenset()) -> None:
        self.post = post
        self.label = output_field("label", outputs)
        self.probabilities = output_field("probabilities", outputs)
        needs_probabilities = [name for name, used in (
            ("softmax", post.softmax), ("threshold", post.threshold is not None),
            ("top_k", post.top_k is not None)) if used]
        if needs_probabilities and self.probabilities is None:
            raise ModelError(
                f"model {model}: model.postprocess.{needs_probabilities[0]} needs the "
                "'probabilities' output published (model.outputs)")
        if (post.classes is not None or post.threshold is not None) and self.label is None:
            raise ModelError(f"model {model}: model.postprocess.classes/threshold set the "
                             "label, but the 'label' output is not published (model.outputs)")
        if post.top_k is not None and (post.top_k_field in outputs.values()
                                       or post.top_k_field in reserved):
            raise ModelError(f"model {model}: model.postprocess.top_k_field "
                             f"{post.top_k_field!r} is a field the prediction has already")

    def apply(self, row: dict[str, Any]) -> dict[str, Any]:
        """The row with its outputs post-processed; :class:`RecordError` when its outputs
        do not fit (a label without a name, probabilities that are not a list)."""
        post = self.post
        out = dict(row)
        scores: list[float] | None = None
        if self.probabilities is not None and self.probabilities in out:
            value = out[self.probabilities]
            floats = isinstance(value, list) and set(map(type, value)) <= _FLOAT
            if not floats and (not isinstance(value, list) or not all(
                    isinstance(v, (int, float)) for v in value)):
                if post.softmax or post.threshold is not None or post.top_k is not None:
                    raise RecordError("postprocess_error", f"output {self.probabilities} is "
                                      f"{type(value).__name__}, not a list of scores", "model")
            else:
                scores = softmax(value) if post.softmax else \
                    list(value) if floats else [float(v) for v in value]
                out[self.probabilities] = scores
        if post.threshold is not None and scores is not None:
            if len(scores) != 2:
                raise RecordError("postprocess_error", "model.postprocess.threshold is for "
                                  f"binary models; this one gives {len(scores)} scores", "model")
            assert self.label is not None
            out[self.label] = int(scores[1] >= post.threshold)
        if post.classes is not None:
            assert self.label is not None
            out[self.label] = self._name(out.get(self.label))
        if post.top_k is not None and scores is not None:
            order = sorted(range(len(scores)), key=lambda i: -scores[i])[:post.top_k]
            out[post.top_k_field] = [
                {"label": self._name(i) if post.classes is not None else i, "score": scores[i]}
                for i in order]
        return out

    def _name(self, index: Any) -> str:
        classes = self.post.classes
        assert classes is not None
        if isinstance(index, bool) or not isinstance(index, int) \
                or not 0 <= index < len(classes):
            raise RecordError("postprocess_error", f"label {index!r} has no name in "
                              f"model.postprocess.classes ({len(classes)} names)", "model")
        return classes[index]


def softmax(logits: list[Any]) -> list[float]:
    """Softmax over a list of numbers (shifted by the largest, so it does not overflow).

    >>> [round(p, 3) for p in softmax([1.0, 2.0, 3.0])]
    [0.09, 0.245, 0.665]
    """
    top = max(logits)
    exps = [math.exp(float(v) - top) for v in logits]
    total = sum(exps)
    return [e / total for e in exps]
