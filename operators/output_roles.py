"""Which prediction field holds which model output, under the names ``model.outputs`` gives.

A model's outputs have roles: the class ``label``, the class ``probabilities``, a
regressor's ``value``. Models streaminfer serves name them as scikit-learn's ONNX converter
does (``label``, ``probabilities``, ``variable``); ``model.outputs`` may publish them under
other fields, or not at all. Every reader of an output (drift, validation, live metrics,
shadow agreement) asks here for the field, never spells the output's own name.

>>> output_field("label", {"label": "digit", "probabilities": "probabilities"})
'digit'
>>> output_field("value", None), output_field("label", {"probabilities": "p"}) is None
('variable', True)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

Role = Literal["label", "probabilities", "value"]

#: The model output each role comes from.
ONNX_OUTPUTS: dict[Role, str] = {
    "label": "label", "probabilities": "probabilities", "value": "variable",
}


def published_field(output: str, outputs: Mapping[str, str] | None) -> str | None:
    """The prediction field model output ``output`` is published under, by ``outputs``
    (``model.outputs``: ``{model output: field}``; ``None``: each under its own name);
    ``None`` when it is not published."""
    return output if outputs is None else outputs.get(output)


def output_field(role: Role, outputs: Mapping[str, str] | None) -> str | None:
    """The prediction field holding the output of ``role`` (``None``: not published)."""
    return published_field(ONNX_OUTPUTS[role], outputs)
