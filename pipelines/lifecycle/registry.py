"""The model registry: MLflow's Model Registry holding streaminfer's ONNX model versions.

A version is a run's ``model/`` artifacts (``model.onnx``, and ``model.onnx.profile.json`` when a
training profile was given), the run's metrics (the holdout metrics), and tags on the version:
``sha256`` of the ONNX file, ``produced_by`` (retrain, optimize, import), ``parent_version``,
``data_range`` (JSON: topic, partitions and offsets, or files) and the gate's verdict.
Aliases name roles (``champion``, ``challenger``, ``previous``).

MLflow is imported on first use, so commands that never touch the registry start fast. Every
:class:`Registry` talks to its own tracking URI through its own ``MlflowClient``; nothing is
set globally. :meth:`Registry.resolve` is one query, cheap enough to poll.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from streaminfer.errors import ModelError, RegistryError
from streaminfer.operators.model_runner import sha256_hex
from streaminfer.operators.profile import profile_path
from streaminfer.pipelines.lifecycle import roles
from streaminfer.pipelines.spec.model_spec import RegistryRef
from streaminfer.pipelines.spec.training_spec import DEFAULT_TRACKING_URI, RegistrySpec

if TYPE_CHECKING:
    from mlflow import MlflowClient

ARTIFACT_DIR = "model"
MODEL_FILE = "model.onnx"
PROFILE_FILE = profile_path(MODEL_FILE).name  # beside the model, where drift looks for it
TAG_SHA256 = "sha256"
TAG_PRODUCED_BY = "produced_by"
TAG_PARENT = "parent_version"
TAG_DATA_RANGE = "data_range"
TAG_GATE = "gate"
TAG_GATE_REASON = "gate_reason"
DEFAULT_CACHE = Path("~/.cache/streaminfer/models")
Producer = Literal["retrain", "optimize", "import"]


@dataclass(frozen=True)
class Lineage:
    """Where a version came from: what made it, from which version, on which data."""

    produced_by: Producer
    parent_version: str | None = None
    data_range: Mapping[str, Any] | None = None

    def tags(self) -> dict[str, str]:
        tags: dict[str, str] = {TAG_PRODUCED_BY: self.produced_by}
        if self.parent_version is not None:
            tags[TAG_PARENT] = self.parent_version
        if self.data_range is not None:
            tags[TAG_DATA_RANGE] = json.dumps(self.data_range, sort_keys=True)
        return tags


@dataclass(frozen=True)
class ModelVersion:
    """One registered version, as streaminfer reads it."""

    name: str
    version: str
    sha256: str
    source: str
    run_id: str | None
    created_ms: int
    aliases: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    @property
    def rejected(self) -> bool:
        return self.tags.get(TAG_GATE) == "rejected"

    @property
    def data_range(self) -> dict[str, Any] | None:
        text = self.tags.get(TAG_DATA_RANGE)
        return dict(json.loads(text)) if text else None


def tracking_uri(configured: str | None = None) -> str:
    """The YAML's URI, else ``MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db`` here."""
    return configured or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def _local_sqlite(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (relative to the current folder or absolute)."""
    prefix = "sqlite:///"
    return Path(uri[len(prefix):]).resolve() if uri.startswith(prefix) else None


def _quiet_mlflow() -> None:
    """No telemetry, no INFO lines about creating tables, no progress bar per download (of
    one small file), no deprecation notice from its SQLAlchemy use (a user's
    MLFLOW_DISABLE_TELEMETRY and MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR win)."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r"The ``noload`` loader strategy")


class Registry:
    """streaminfer's view of one MLflow tracking server or local store."""

    def __init__(self, uri: str | None = None, *, experiment: str = "streaminfer",
                 cache_dir: Path | None = None, create: bool = True) -> None:
        self.uri = tracking_uri(uri)
        self.create = create  # False: a local SQLite store that is not there is an error
        self.experiment = experiment
        self.cache_dir = (cache_dir or DEFAULT_CACHE).expanduser()
        self._client: MlflowClient | None = None

    @classmethod
    def from_spec(cls, spec: RegistrySpec | None, uri: str | None = None, *,
                  create: bool = True) -> Registry:
        """The registry a pipeline's ``registry`` section names (``uri`` overrides it)."""
        spec = spec or RegistrySpec()
        return cls(uri or spec.tracking_uri, experiment=spec.experiment,
                   cache_dir=spec.cache_dir, create=create)

    @property
    def client(self) -> MlflowClient:
        if self._client is None:
            _quiet_mlflow()
            from mlflow import MlflowClient

            database = _local_sqlite(self.uri)
            if database is not None and not self.create and not database.is_file():
                raise RegistryError(
                    f"no registry at {database} ({self.uri}): nothing was registered there; "
                    "point at yours with --config PIPELINE.yaml, --tracking-uri or "
                    "MLFLOW_TRACKING_URI")
            if database is not None:
                database.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)
            except Exception as exc:
                raise RegistryError(f"MLflow registry {self.uri}: {exc}") from None
        return self._client

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Call the MLflow client; its errors become one :class:`RegistryError` line."""
        from mlflow.exceptions import MlflowException

        try:
            return fn(*args, **kwargs)
        except MlflowException as exc:
            raise RegistryError(f"{what}: {exc.message} (registry {self.uri})") from None

    def _experiment_id(self) -> str:
        found = self._call("experiment", self.client.get_experiment_by_name, self.experiment)
        if found is not None:
            return str(found.experiment_id)
        database = _local_sqlite(self.uri)
        location = (database.parent / "mlartifacts").as_uri() if database else None
        return str(self._call("create experiment", self.client.create_experiment,
                              self.experiment, artifact_location=location))

    def register_model(
        self, name: str, onnx_path: str | Path, *, metrics: Mapping[str, float],
        lineage: Lineage, tags: Mapping[str, str] | None = None,
        profile_path: str | Path | None = None,
    ) -> ModelVersion:
        """A new version of ``name``: the ONNX file (and profile) as run artifacts, the
        metrics on the run, sha256 and lineage as tags. Creates the model if it is new."""
        from mlflow.entities import Metric

        onnx_path = Path(onnx_path)
        digest = sha256_hex(onnx_path.read_bytes())
        client = self.client
        run = self._call("create run", client.create_run, self._experiment_id(),
                         run_name=f"{name}-{lineage.produced_by}",
                         tags={"streaminfer.model": name, **lineage.tags()})
        run_id = run.info.run_id
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / ARTIFACT_DIR
            folder.mkdir()
            shutil.copyfile(onnx_path, folder / MODEL_FILE)
            if profile_path is not None:
                shutil.copyfile(profile_path, folder / PROFILE_FILE)
            self._call("log artifacts", client.log_artifacts, run_id, str(folder), ARTIFACT_DIR)
        now = run.info.start_time
        self._call("log metrics", client.log_batch, run_id, metrics=[
            Metric(key, float(value), now, 0) for key, value in metrics.items()])
        self._call("end run", client.set_terminated, run_id)
        if not self._call("find model", client.search_registered_models,
                          filter_string=f"name = '{name}'"):
            self._call("create model", client.create_registered_model, name)
        created = self._call(
            "create version", client.create_model_version, name,
            f"{run.info.artifact_uri}/{ARTIFACT_DIR}", run_id=run_id,
            tags={TAG_SHA256: digest, **lineage.tags(), **(tags or {})},
        )
        return self._version(created, {})

    def log_run(self, run_name: str, *, metrics: Mapping[str, float],
                artifacts: list[Path], artifact_dir: str, tags: Mapping[str, str]) -> str:
        """A finished run of this registry's experiment with ``metrics`` (NaN left out),
        ``tags`` and ``artifacts`` (files, under ``artifact_dir``); its run id."""
        from mlflow.entities import Metric

        client = self.client
        run = self._call("create run", client.create_run, self._experiment_id(),
                         run_name=run_name, tags=dict(tags))
        run_id = str(run.info.run_id)
        for path in artifacts:
            self._call("log artifact", client.log_artifact, run_id, str(path), artifact_dir)
        now = run.info.start_time
        self._call("log metrics", client.log_batch, run_id, metrics=[
            Metric(key, float(value), now, 0) for key, value in metrics.items()
            if value == value])
        self._call("end run", client.set_terminated, run_id)
        return run_id

    def _version(self, mv: Any, aliases: Mapping[str, str]) -> ModelVersion:
        version = str(mv.version)
        return ModelVersion(
            name=mv.name, version=version, sha256=str(mv.tags.get(TAG_SHA256, "")),
            source=str(mv.source), run_id=mv.run_id, created_ms=int(mv.creation_timestamp),
            aliases=tuple(sorted(mv.aliases or [a for a, v in aliases.items() if v == version])),
            tags=dict(mv.tags),
        )

    def resolve(self, name: str, alias_or_version: str) -> ModelVersion:
        """The version an alias names (or a version number), with its sha256: one query."""
        client = self.client
        what = f"models:/{name}" + (f"/{alias_or_version}" if alias_or_version.isdigit()
                                    else f"@{alias_or_version}")
        if alias_or_version.isdigit():
            mv = self._call(what, client.get_model_version, name, alias_or_version)
        else:
            mv = self._call(what, client.get_model_version_by_alias, name, alias_or_version)
        found = self._version(mv, {})
        if not found.sha256:
            raise RegistryError(f"{what} (version {found.version}) has no sha256 tag; register "
                                "it with streaminfer, or tag it with the file's sha256")
        return found

    def find(self, name: str, alias: str) -> ModelVersion | None:
        """The version an alias names, or ``None`` when the model or the alias is not there."""
        from mlflow.exceptions import MlflowException

        try:
            model = self.client.get_registered_model(name)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise RegistryError(f"model {name}: {exc.message} (registry {self.uri})") from None
        version = (model.aliases or {}).get(alias)
        return None if version is None else self.resolve(name, str(version))

    def resolve_ref(self, ref: RegistryRef) -> ModelVersion:
        return self.resolve(ref.name, ref.alias or str(ref.version))

    def aliases(self, name: str) -> dict[str, str]:
        """Alias -> version of a registered model."""
        model = self._call(f"model {name}", self.client.get_registered_model, name)
        return {alias: str(version) for alias, version in (model.aliases or {}).items()}

    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of ``name``, newest first, with its aliases."""
        aliases = self.aliases(name)
        found = self._call(f"versions of {name}", self.client.search_model_versions,
                           f"name = '{name}'")
        return sorted((self._version(mv, aliases) for mv in found),
                      key=lambda v: int(v.version), reverse=True)

    def names(self) -> list[str]:
        """The registered models' names (the first 1,000)."""
        found = self._call("models", self.client.search_registered_models, max_results=1_000)
        return sorted(m.name for m in found)

    def metrics(self, version: ModelVersion) -> dict[str, float]:
        """The holdout metrics logged with a version (empty without a run)."""
        if version.run_id is None:
            return {}
        run = self._call(f"run of {version.uri}", self.client.get_run, version.run_id)
        return {key: float(value) for key, value in run.data.metrics.items()}

    def tag(self, version: ModelVersion, tags: Mapping[str, str]) -> None:
        for key, value in tags.items():
            self._call(f"tag {version.uri}", self.client.set_model_version_tag,
                       version.name, version.version, key, value)

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self._call(f"alias {alias}", self.client.set_registered_model_alias, name, alias, version)

    def apply(self, name: str, moves: roles.AliasMoves, *,
              verified: tuple[str, ...] = ()) -> None:
        """Move aliases: removals first, then the new pointers. A version that gains a
        serving role (champion, shadow, canary) is first checked against its sha256
        (:meth:`verify`; not again for the ``verified`` ones): nothing moves if one fails."""
        for version in roles.served(self.aliases(name), moves):
            if version not in verified:
                self.verify(self.resolve(name, version))
        for alias in moves.remove:
            self._call(f"remove alias {alias}", self.client.delete_registered_model_alias,
                       name, alias)
        for alias, version in moves.set.items():
            self.set_alias(name, alias, version)

    def promote(self, name: str, version: str | None = None, *,
                force: bool = False) -> roles.AliasMoves:
        """Make ``version`` (default: the challenger) the champion; a rejected version only
        with ``force``."""
        moves = roles.promotion(self.aliases(name), version)
        target = self.resolve(name, moves.set[roles.CHAMPION])
        if target.rejected and not force:
            raise RegistryError(f"{target.uri} was rejected by the gate "
                                f"({target.tags.get(TAG_GATE_REASON, 'no reason recorded')}); "
                                "pass --force to promote it anyway")
        self.apply(name, moves)
        return moves

    def rollback(self, name: str) -> roles.AliasMoves:
        """Give the champion role back to the previous champion."""
        moves = roles.rollback(self.aliases(name))
        self.apply(name, moves)
        return moves

    def fetch(self, version: ModelVersion) -> Path:
        """Download a version's artifacts into the cache; the ONNX file's path, its sha256
        checked against the registry's."""
        folder = self.cache_dir / version.name / version.version
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".download-", dir=folder.parent))
        try:
            self._download(version, staging)
            shutil.rmtree(folder, ignore_errors=True)
            os.replace(staging / ARTIFACT_DIR, folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return self._checked(version, folder / MODEL_FILE, "refusing to load it")

    def verify(self, version: ModelVersion) -> None:
        """Raise :class:`ModelError` unless the stored ONNX file still has the version's
        sha256 (downloaded to a scratch folder: the cache that pipelines load is untouched)."""
        with tempfile.TemporaryDirectory(prefix="streaminfer-verify-") as scratch:
            self._download(version, Path(scratch))
            self._checked(version, Path(scratch) / ARTIFACT_DIR / MODEL_FILE,
                          "refusing to give it a role")

    def _download(self, version: ModelVersion, into: Path) -> None:
        from mlflow.artifacts import download_artifacts

        self._call(f"download {version.uri}", download_artifacts,
                   artifact_uri=version.source, dst_path=str(into), tracking_uri=self.uri)

    @staticmethod
    def _checked(version: ModelVersion, path: Path, refusing: str) -> Path:
        if not path.is_file():
            raise RegistryError(f"{version.uri} has no {ARTIFACT_DIR}/{MODEL_FILE} artifact; "
                                "register ONNX models with streaminfer")
        actual = sha256_hex(path.read_bytes())
        if actual != version.sha256:
            raise ModelError(f"{version.uri}: the stored {MODEL_FILE} has sha256 {actual}, but "
                             f"the registry recorded {version.sha256}: the artifact changed "
                             f"after it was registered; {refusing}")
        return path
