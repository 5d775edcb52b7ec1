"""Submitting through the Ray Jobs API: the job's layout and command, errors, a real cluster."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from streaminfer.cluster.bundle import PipelineBundle, load_bundle
from streaminfer.cluster.submit import plan_job, stage, submit_pipeline
from streaminfer.errors import ConfigError, PipelineError
from streaminfer.pipelines.process.ports import free_port


class FakeClient:
    """Records what submit_job got, and the working directory's files at that moment."""

    def __init__(self, address: str, fail: BaseException | None = None) -> None:
        self.address = address
        self.fail = fail
        self.calls: list[dict[str, Any]] = []
        self.files: dict[str, bytes] = {}

    def submit_job(self, **kwargs: Any) -> str:
        if self.fail is not None:
            raise self.fail
        self.calls.append(kwargs)
        root = Path(kwargs["runtime_env"]["working_dir"])
        self.files = {p.relative_to(root).as_posix(): p.read_bytes()
                      for p in root.rglob("*") if p.is_file()}
        return "raysubmit_fake"


@pytest.fixture
def client() -> FakeClient:
    return FakeClient("unset")


def factory_of(client: FakeClient) -> Callable[[str], FakeClient]:
    def make(address: str) -> FakeClient:
        client.address = address
        return client

    return make


# ---------------------------------------------------------------- the job's layout


def test_a_model_beside_the_yaml_folder_keeps_its_relative_path(
    repo_config: Callable[[str], Path],
) -> None:
    path = repo_config("fraud-scoring")  # model.path: ../models/fraud.onnx
    plan = plan_job(load_bundle(path))
    assert plan.files == {"configs/fraud-scoring.yaml": path,
                          "models/fraud.onnx": (path.parent.parent / "models/fraud.onnx")}
    assert plan.entrypoint == (
        "streaminfer run configs/fraud-scoring.yaml --address auto --no-live")
    assert plan.pip == ("streaminfer",)


def test_a_model_in_the_yaml_folder(write_pipeline: Callable[..., Path]) -> None:
    path = write_pipeline(model={"path": "sub/model.onnx"})
    plan = plan_job(load_bundle(path), pip=(), check_only=True)
    assert set(plan.files) == {"pipeline.yaml", "sub/model.onnx"}
    assert plan.entrypoint == "streaminfer validate-config pipeline.yaml"
    assert plan.runtime_env(Path("/w")) == {"working_dir": "/w"}


def test_a_model_two_folders_up(write_pipeline: Callable[..., Path]) -> None:
    path = write_pipeline(folder="deploy/prod", model={"path": "../../models/model.onnx"})
    plan = plan_job(load_bundle(path))
    assert set(plan.files) == {"deploy/prod/pipeline.yaml", "models/model.onnx"}
    assert plan.entrypoint.startswith("streaminfer run deploy/prod/pipeline.yaml ")


def test_an_absolute_model_path_is_not_shipped(write_pipeline: Callable[..., Path]) -> None:
    path = write_pipeline(with_model=False, model={"path": "/opt/models/m.onnx"})
    plan = plan_job(load_bundle(path))
    assert list(plan.files) == ["pipeline.yaml"]
    assert any("/opt/models/m.onnx is absolute" in w for w in plan.warnings)


def test_a_home_relative_model_path_is_refused(write_pipeline: Callable[..., Path]) -> None:
    path = write_pipeline(with_model=False, model={"path": "~/m.onnx"})
    with pytest.raises(ConfigError, match="starts with '~'"):
        plan_job(load_bundle(path))


def test_a_missing_model_is_refused_before_submitting(
    write_pipeline: Callable[..., Path], client: FakeClient
) -> None:
    path = write_pipeline(with_model=False)
    with pytest.raises(ConfigError, match="does not exist"):
        submit_pipeline("http://127.0.0.1:8265", path, client_factory=factory_of(client))
    assert client.calls == []


def test_several_models_keep_their_relative_paths(write_pipeline: Callable[..., Path]) -> None:
    path = write_pipeline(
        folder="deploy/prod",
        models=[{"name": "a", "path": "a.onnx"}, {"name": "b", "path": "../../models/b.onnx"},
                {"name": "c", "path": "../shared/c.onnx"}, {"name": "d", "path": "/opt/d.onnx"},
                {"name": "a2", "path": "./a.onnx"}],
        routing={"weights": {"a": 1, "b": 1, "c": 1, "d": 1, "a2": 1}})
    plan = plan_job(load_bundle(path))
    root = path.parent.parent.parent  # two folders up: the climb of the highest model
    assert plan.files == {
        "deploy/prod/pipeline.yaml": path,
        "deploy/prod/a.onnx": path.parent / "a.onnx",
        "models/b.onnx": root / "models" / "b.onnx",
        "deploy/shared/c.onnx": root / "deploy" / "shared" / "c.onnx",
    }
    assert plan.entrypoint.startswith("streaminfer run deploy/prod/pipeline.yaml ")
    assert [w for w in plan.warnings if "absolute" in w] == [
        "models[3].path /opt/d.onnx is absolute: it is not shipped, so every node of the "
        "cluster must have it there (write it relative to the YAML file to ship it)"]


def test_every_shipped_model_is_checked_before_submitting(
    write_pipeline: Callable[..., Path], client: FakeClient
) -> None:
    path = write_pipeline(
        models=[{"name": "a", "path": "a.onnx"},
                {"name": "b", "path": "../models/b.onnx", "sha256": "f" * 64}],
        routing={"weights": {"a": 1, "b": 1}})
    with pytest.raises(ConfigError, match=r"models\[1\]\.sha256 does not match"):
        submit_pipeline("http://127.0.0.1:8265", path, client_factory=factory_of(client))
    assert client.calls == []


def test_a_model_path_above_the_root_is_refused(
    write_pipeline: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_pipeline(with_model=False, model={"path": "../" * 40 + "m.onnx"})
    # Here that path resolves to /m.onnx; pretend it exists, to reach the layout's check.
    monkeypatch.setattr(PipelineBundle, "model_bytes", lambda self, ref: b"")
    with pytest.raises(ConfigError, match=r"model\.path .* leaves the file system root"):
        plan_job(load_bundle(path))


def test_stage_copies_the_files(tmp_path: Path, repo_config: Callable[[str], Path]) -> None:
    path = repo_config("diabetes-regression")
    plan = plan_job(load_bundle(path))
    stage(plan, tmp_path / "job")
    assert (tmp_path / "job/configs/diabetes-regression.yaml").read_text() == path.read_text()
    assert (tmp_path / "job/models/diabetes.onnx").read_bytes() == (
        path.parent.parent / "models/diabetes.onnx").read_bytes()


# ---------------------------------------------------------------- submitting


def test_submit_sends_the_working_dir_command_and_pip(
    repo_config: Callable[[str], Path], client: FakeClient
) -> None:
    path = repo_config("fraud-scoring")
    result = submit_pipeline("http://head:8265", path, pip=["streaminfer==0.1.0"],
                             submission_id="fraud-1", client_factory=factory_of(client))
    assert result.job_id == "raysubmit_fake"
    assert client.address == "http://head:8265"
    [call] = client.calls
    assert call["entrypoint"] == (
        "streaminfer run configs/fraud-scoring.yaml --address auto --no-live")
    assert call["runtime_env"]["pip"] == ["streaminfer==0.1.0"]
    assert set(call["runtime_env"]) == {"working_dir", "pip"}
    assert call["submission_id"] == "fraud-1"
    assert call["metadata"] == {"streaminfer_pipeline": "fraud-scoring"}
    assert client.files["configs/fraud-scoring.yaml"] == path.read_bytes()
    assert client.files["models/fraud.onnx"] == (path.parent.parent / "models/fraud.onnx"
                                                 ).read_bytes()
    assert not Path(call["runtime_env"]["working_dir"]).exists()  # cleaned up afterwards


def test_submit_never_sends_secret_values(
    write_pipeline: Callable[..., Path], sasl: dict[str, Any], fake_secret: str,
    client: FakeClient,
) -> None:
    path = write_pipeline(kafka={"security": sasl})
    result = submit_pipeline("http://head:8265", path, client_factory=factory_of(client))
    [call] = client.calls
    assert "env_vars" not in call["runtime_env"]
    sent = json.dumps(call) + "".join(v.decode("latin-1") for v in client.files.values())
    assert fake_secret not in sent
    assert fake_secret not in "".join(result.warnings)
    assert any("KAFKA_USERNAME, KAFKA_PASSWORD" in w for w in result.warnings)


@pytest.mark.parametrize("address", ["ray://head:10001", "head:6379", "auto", ""])
def test_only_the_dashboard_http_address_is_accepted(
    address: str, repo_config: Callable[[str], Path], client: FakeClient
) -> None:
    with pytest.raises(ConfigError, match="dashboard's HTTP address"):
        submit_pipeline(address, repo_config("demo"), client_factory=factory_of(client))


def test_an_unreachable_cluster_is_one_clear_line(repo_config: Callable[[str], Path]) -> None:
    def refuse(address: str) -> FakeClient:
        raise ConnectionError(f"Failed to connect to Ray at address: {address}.\nmore detail")

    with pytest.raises(PipelineError) as caught:
        submit_pipeline("http://127.0.0.1:9", repo_config("demo"), client_factory=refuse)
    message = str(caught.value)
    assert message.startswith("cannot reach the Ray Jobs API at http://127.0.0.1:9: Failed")
    assert "\n" not in message


def test_a_token_protected_cluster_says_how_to_authenticate(
    repo_config: Callable[[str], Path],
) -> None:
    from ray.exceptions import AuthenticationError

    def refuse(address: str) -> FakeClient:
        raise AuthenticationError("Authentication required: Unauthorized")

    with pytest.raises(PipelineError, match="asks for a token: export RAY_AUTH_MODE=token"):
        submit_pipeline("http://head:8265", repo_config("demo"), client_factory=refuse)


def test_a_refused_job_is_a_pipeline_error(repo_config: Callable[[str], Path]) -> None:
    client = FakeClient("x", fail=RuntimeError("Request failed with status code 400: bad env"))
    with pytest.raises(PipelineError, match=r"did not accept the job: Request failed .*400"):
        submit_pipeline("http://head:8265", repo_config("demo"),
                        client_factory=factory_of(client))


def test_the_real_client_reports_a_closed_port(repo_config: Callable[[str], Path]) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(PipelineError, match=f"cannot reach the Ray Jobs API at .*:{port}"):
        submit_pipeline(f"http://127.0.0.1:{port}", repo_config("demo"))


# ---------------------------------------------------------------- a real Ray cluster


@pytest.fixture(scope="module")
def ray_dashboard() -> Iterator[str]:
    """A real single-node Ray cluster with its dashboard on loopback; yields its address.

    Started with `ray start --head --block` on free ports and a private temp dir, so it neither
    meets nor is found by any other local Ray; stopped by its own process id.
    """
    bin_dir = Path(sys.executable).parent
    temp = tempfile.mkdtemp(prefix="rayt", dir="/tmp")  # short: Ray's socket paths are limited
    dashboard = free_port()
    env = dict(os.environ, RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0",
               PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    env.pop("RAY_ADDRESS", None)
    command = [
        str(bin_dir / "ray"), "start", "--head", "--block", "--num-cpus=1",
        f"--port={free_port()}", f"--ray-client-server-port={free_port()}",
        f"--dashboard-agent-listen-port={free_port()}", "--include-dashboard=true",
        "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}", f"--temp-dir={temp}",
        "--disable-usage-stats",
    ]
    head = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    started = threading.Event()
    lines: list[str] = []

    def drain() -> None:  # read until it exits, so its output never blocks it
        assert head.stdout is not None
        for line in head.stdout:
            lines.append(line)
            if "Ray runtime started" in line:
                started.set()
        started.set()

    threading.Thread(target=drain, daemon=True).start()
    try:
        if not started.wait(90) or head.poll() is not None:
            pytest.fail("ray start did not come up:\n" + "".join(lines[-30:]))
        yield f"http://127.0.0.1:{dashboard}"
    finally:
        head.send_signal(signal.SIGTERM)  # `ray start --block` stops its processes
        try:
            head.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)  # its own process group, started above
            head.wait(10)
        shutil.rmtree(temp, ignore_errors=True)


async def _logs_until_done(client: Any, job_id: str) -> str:
    chunks = [chunk async for chunk in client.tail_job_logs(job_id)]
    return "".join(chunks)


@pytest.mark.integration
def test_a_check_job_runs_on_a_real_ray_cluster(
    ray_dashboard: str, tmp_path: Path, model_factory: Callable[[str], Path],
    dataset_factory: Callable[[str], Any], write_pipeline: Callable[..., Path],
) -> None:
    """The working directory reaches the cluster with the model where the YAML points, and
    `streaminfer validate-config` finds and loads it there."""
    from ray.job_submission import JobStatus, JobSubmissionClient

    path = write_pipeline(
        name="real-check", with_model=False,
        source={"topics": ["events"], "group_id": "g",
                "features": dataset_factory("breast_cancer").features},
    )
    (tmp_path / "models").mkdir(exist_ok=True)
    shutil.copyfile(model_factory("breast_cancer"), tmp_path / "models" / "model.onnx")

    result = submit_pipeline(ray_dashboard, path, pip=(), check_only=True)

    client = JobSubmissionClient(ray_dashboard)
    logs = asyncio.run(asyncio.wait_for(_logs_until_done(client, result.job_id), 120))
    assert client.get_job_status(result.job_id) == JobStatus.SUCCEEDED, logs
    assert "pipeline real-check" in logs
    assert "ok pipelines/pipeline.yaml" in logs
