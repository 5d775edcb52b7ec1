"""The base of every config model, and the field types the schemas share."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

ProviderName = Literal[
    "CUDAExecutionProvider", "TensorrtExecutionProvider", "CPUExecutionProvider"
]
TopicName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=249,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="A Kafka topic name: letters, digits, '.', '_' and '-'.",
    ),
]
#: A file's expected sha256: 64 hex digits.
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$")]



class FrozenModel(BaseModel):
    """Base of every config model (pipeline and cluster): immutable, an unknown key is an
    error."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


def whole_above_one(value: float) -> float:
    """Ray shares one GPU by fractions, but more than one must be whole GPUs."""
    if value > 1 and not float(value).is_integer():
        raise ValueError(f"{value:g} GPUs: a fraction shares one GPU; above 1 give whole GPUs")
    return value

