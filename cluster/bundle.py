"""A pipeline YAML as it ships to a cluster: its exact text, validated, with its model file."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import yaml

from streaminfer.errors import ConfigError
from streaminfer.pipelines.spec import PipelineSpec
from streaminfer.pipelines.spec_loader import parse_spec


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

    @property
    def model_file(self) -> Path:
        """The model file on this machine."""
        return self.spec.model.path

    def model_bytes(self) -> bytes:
        """The model file's bytes, checked against model.sha256 when the YAML gives one."""
        try:
            data = self.model_file.read_bytes()
        except FileNotFoundError:
            raise ConfigError(
                f"{self.path}: model.path: {self.model_file} does not exist (train the example "
                "models with `streaminfer build-models`, or set ship_model: false in the "
                "cluster description when the image provides the model)"
            ) from None
        except OSError as exc:
            raise ConfigError(f"{self.model_file}: cannot read: {exc.strerror}") from None
        expected = self.spec.model.sha256
        if expected and hashlib.sha256(data).hexdigest() != expected.lower():
            raise ConfigError(
                f"{self.path}: model.sha256 does not match {self.model_file}; retrain or "
                "update the hash"
            )
        return data


def load_bundle(path: str | Path) -> PipelineBundle:
    """Read and validate a pipeline YAML (the same checks as ``streaminfer validate-config``)."""
    path = Path(path).absolute()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    spec = parse_spec(text, source=str(path), base=path.resolve().parent)
    # parse_spec succeeded, so the same mapping validates again; this copy keeps paths as written.
    declared = PipelineSpec.model_validate(yaml.safe_load(text))
    return PipelineBundle(path=path, text=text, spec=spec, declared=declared)
