"""A pipeline YAML as it ships to a cluster: its exact text, validated, with its model files."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import yaml

from streaminfer.errors import ConfigError
from streaminfer.pipelines.spec.config_io import read_text
from streaminfer.pipelines.spec.loader import parse_spec
from streaminfer.pipelines.spec.model_spec import RegistryRef
from streaminfer.pipelines.spec.schema import PipelineSpec


@dataclass(frozen=True)
class ModelRef:
    """One model of the pipeline: the YAML field that names it and its file, two ways (or
    the registry version it names: ``ref``, resolved by the cluster itself at start)."""

    field: str  # "model", or "models[1]" when the YAML lists several
    name: str  # the model's name in predictions
    declared: str  # model path as written in the YAML, with '/' separators
    local: Path  # the file on this machine
    sha256: str | None  # the hash the YAML expects, if it gives one
    ref: RegistryRef | None = None  # models:/NAME@ALIAS or models:/NAME/VERSION


@dataclass(frozen=True)
class PipelineBundle:
    """One pipeline YAML: where it is, its exact text, and its spec two ways.

    ``spec`` has its paths resolved against the YAML's folder (to read files here);
    ``declared`` keeps them as written (to know where they must be on the cluster).
    """

    path: Path
    text: str
    spec: PipelineSpec
    declared: PipelineSpec

    @cached_property
    def models(self) -> tuple[ModelRef, ...]:
        """Every model of the pipeline, in YAML order (``model:`` or each of ``models:``)."""
        several = self.declared.models is not None
        return tuple(
            ModelRef(
                field=f"models[{i}]" if several else "model",
                name=resolved.model_name,
                declared=str(declared.path).replace("\\", "/"),
                local=resolved.path,
                sha256=resolved.sha256,
                ref=declared.registry_ref,
            )
            for i, (resolved, declared) in enumerate(
                zip(self.spec.model_specs, self.declared.model_specs, strict=True)
            )
        )

    @property
    def file_models(self) -> tuple[ModelRef, ...]:
        """The models that are files (they ship, or the image provides them); not those
        that name a registry version."""
        return tuple(m for m in self.models if m.ref is None)

    def model_bytes(self, ref: ModelRef) -> bytes:
        """A model file's bytes, checked against its sha256 when the YAML gives one."""
        try:
            data = ref.local.read_bytes()
        except FileNotFoundError:
            raise ConfigError(
                f"{self.path}: {ref.field}.path: {ref.local} does not exist (train the example "
                "models with `streaminfer build-models`, or set ship_model: false in the "
                "cluster description when the image provides the model)"
            ) from None
        except OSError as exc:
            raise ConfigError(f"{ref.local}: cannot read: {exc.strerror}") from None
        if ref.sha256 and hashlib.sha256(data).hexdigest() != ref.sha256.lower():
            raise ConfigError(
                f"{self.path}: {ref.field}.sha256 does not match {ref.local}; retrain or "
                "update the hash"
            )
        return data


def load_bundle(path: str | Path) -> PipelineBundle:
    """Read and validate a pipeline YAML (the same checks as ``streaminfer validate-config``)."""
    path = Path(path).absolute()
    text = read_text(path)
    spec = parse_spec(text, source=str(path), base=path.resolve().parent)
    # parse_spec succeeded, so the same mapping validates again; this copy keeps paths as written.
    declared = PipelineSpec.model_validate(yaml.safe_load(text))
    return PipelineBundle(path=path, text=text, spec=spec, declared=declared)
