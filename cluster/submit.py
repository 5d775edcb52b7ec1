"""Submit a pipeline to a running Ray cluster through the Ray Jobs API.

The job's working directory holds the pipeline YAML and its models, laid out so that the YAML's
relative model paths still point at the models: ``configs/fraud.yaml`` with
``path: ../models/fraud.onnx`` ships as ``configs/fraud.yaml`` and ``models/fraud.onnx``.
The job runs ``streaminfer run configs/fraud.yaml --address auto`` on the head node. Secrets are
never shipped: the nodes' environment must hold the variables that kafka.security names.
"""

from __future__ import annotations

import posixpath
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from streaminfer.cluster.bundle import ModelRef, PipelineBundle, load_bundle
from streaminfer.cluster.layout import run_command
from streaminfer.cluster.registry_access import TRACKING_URI_ENV, registry_access
from streaminfer.cluster.secrets import secret_env_names
from streaminfer.errors import ConfigError, PipelineError

DEFAULT_ADDRESS = "http://127.0.0.1:8265"
DEFAULT_PIP: tuple[str, ...] = ("streaminfer",)


@dataclass(frozen=True)
class JobPlan:
    """What to submit: the command, the files of its working directory, pip requirements."""

    entrypoint: str
    files: dict[str, Path]  # path inside the working directory (posix) -> file on this machine
    pip: tuple[str, ...]
    pipeline: str
    warnings: list[str] = field(default_factory=list)

    def runtime_env(self, working_dir: Path) -> dict[str, Any]:
        """The job's runtime_env. It never carries environment variables (secrets)."""
        env: dict[str, Any] = {"working_dir": str(working_dir)}
        if self.pip:
            env["pip"] = list(self.pip)
        return env


@dataclass(frozen=True)
class Submission:
    """A submitted job: its id, and the warnings a user should read."""

    job_id: str
    warnings: list[str]


def plan_job(
    bundle: PipelineBundle, *, pip: Sequence[str] = DEFAULT_PIP, check_only: bool = False
) -> JobPlan:
    """Lay out the job's working directory and command for ``bundle``."""
    notes = []
    shipped = []
    access = registry_access(bundle)
    if access is not None:
        notes.append(
            f"{', '.join(access.refs)}: resolved from the model registry when the job starts "
            "(nothing ships)" + (f"; set {TRACKING_URI_ENV} in the environment of the "
                                 "cluster's nodes (it is never sent with the job)"
                                 if access.uri_from_env else ""))
    for ref in bundle.file_models:
        if ref.declared.startswith("~"):
            raise ConfigError(
                f"{bundle.path}: {ref.field}.path {ref.declared!r} starts with '~', another "
                "home folder on the cluster; write it relative to the YAML file"
            )
        if PurePosixPath(ref.declared).is_absolute():
            notes.append(
                f"{ref.field}.path {ref.declared} is absolute: it is not shipped, so every node "
                "of the cluster must have it there (write it relative to the YAML file to ship it)"
            )
        else:
            bundle.model_bytes(ref)  # exists, and matches its sha256
            shipped.append(ref)
    nest = _nest(bundle, shipped)
    yaml_rel = posixpath.join(nest, bundle.path.name) if nest else bundle.path.name
    files = {yaml_rel: bundle.path}
    for ref in shipped:
        model_rel = posixpath.normpath(posixpath.join(nest, ref.declared))
        if model_rel == yaml_rel:
            raise ConfigError(f"{bundle.path}: {ref.field}.path names the pipeline YAML itself")
        files[model_rel] = ref.local
    tls = [str(path) for path in bundle.declared.kafka.security.tls_files().values()]
    if tls:
        notes.append(
            f"TLS files ({', '.join(tls)}) are not shipped (they may hold keys): every node "
            "must have them at those paths; relative paths resolve in the job's working directory"
        )
    names = secret_env_names(bundle.spec)
    if names:
        notes.append(
            f"the job reads Kafka secrets from {', '.join(names)}: they must be set in the "
            "environment of the cluster's nodes (they are never sent with the job)"
        )
    if bundle.spec.kafka.is_embedded:
        notes.append(
            "kafka.bootstrap_servers is 'embedded': the in-memory development broker runs "
            "inside the job's driver and loses every record when the job stops"
        )
    return JobPlan(
        entrypoint=run_command(yaml_rel, check_only=check_only),
        files=files,
        pip=tuple(pip),
        pipeline=bundle.spec.name,
        warnings=notes,
    )


def _nest(bundle: PipelineBundle, models: list[ModelRef]) -> str:
    """The folders to put the YAML in, so that the model climbing most ('../../m.onnx')
    still lands inside the working directory: the YAML's own last parent folders."""
    parents = bundle.path.parent.parts[1:]  # without the root
    ups = 0
    for ref in models:
        climbs = _climbs(ref.declared)
        if climbs > len(parents):
            raise ConfigError(f"{bundle.path}: {ref.field}.path {ref.declared!r} leaves the file "
                              "system root")
        ups = max(ups, climbs)
    return "/".join(parents[len(parents) - ups:]) if ups else ""


def _climbs(declared: str) -> int:
    """How many folders a relative path climbs above its start ('../../m.onnx': 2)."""
    rel, climbs = posixpath.normpath(declared), 0
    while rel.startswith("../"):
        rel, climbs = rel[3:], climbs + 1
    return climbs


def stage(plan: JobPlan, working_dir: Path) -> None:
    """Copy the plan's files into ``working_dir``."""
    for rel, source in plan.files.items():
        target = working_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copyfile(source, target)
        except OSError as exc:
            raise ConfigError(f"{source}: cannot read: {exc.strerror}") from None


ClientFactory = Callable[[str], Any]


def submit_pipeline(
    address: str,
    pipeline: str | Path,
    *,
    pip: Sequence[str] = DEFAULT_PIP,
    check_only: bool = False,
    submission_id: str | None = None,
    client_factory: ClientFactory | None = None,
) -> Submission:
    """Submit ``streaminfer run PIPELINE`` (or, with ``check_only``, ``validate-config``) as a
    Ray job to the cluster whose dashboard listens at ``address`` (http://host:8265)."""
    if not address.startswith(("http://", "https://")):
        raise ConfigError(
            f"--address {address!r}: give the Ray dashboard's HTTP address, e.g. "
            f"{DEFAULT_ADDRESS} (a ray:// address is for `streaminfer run --address`)"
        )
    plan = plan_job(load_bundle(pipeline), pip=pip, check_only=check_only)
    client = _connect(address, client_factory)
    with tempfile.TemporaryDirectory(prefix="streaminfer-job-") as tmp:
        stage(plan, Path(tmp))
        try:
            job_id = client.submit_job(
                entrypoint=plan.entrypoint,
                runtime_env=plan.runtime_env(Path(tmp)),
                submission_id=submission_id,
                metadata={"streaminfer_pipeline": plan.pipeline},
            )
        except Exception as exc:  # the SDK raises RuntimeError, RayError, requests errors...
            raise PipelineError(
                f"the Ray cluster at {address} did not accept the job: {_first_line(exc)}"
            ) from None
    return Submission(job_id=str(job_id), warnings=plan.warnings)


def _connect(address: str, factory: ClientFactory | None) -> Any:
    from ray.exceptions import AuthenticationError

    if factory is None:
        from ray.job_submission import JobSubmissionClient

        factory = JobSubmissionClient
    try:
        return factory(address)
    except AuthenticationError:
        raise PipelineError(
            f"the Ray cluster at {address} asks for a token: export RAY_AUTH_MODE=token and "
            "RAY_AUTH_TOKEN (or put the token in ~/.ray/auth_token)"
        ) from None
    except Exception as exc:  # ConnectionError, ValueError, RpcError...
        raise PipelineError(
            f"cannot reach the Ray Jobs API at {address}: {_first_line(exc)} (is the cluster "
            "up, and its dashboard port 8265 reachable or port-forwarded?)"
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
