"""``streaminfer cluster render|submit`` through typer's CliRunner."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from streaminfer.cli import cluster as cli
from streaminfer.cluster.submit import Submission
from streaminfer.errors import ConfigError, PipelineError

FILES = ["ray-cluster.yaml", "raycluster.yaml", "rayjob.yaml", "configmap.yaml"]


def run(*args: str) -> Any:
    return CliRunner().invoke(cli.app, list(args))


def test_render_writes_the_files_and_prints_their_paths(
    tmp_path: Path, repo_config: Callable[[str], Path]
) -> None:
    out = tmp_path / "deploy"
    result = run("render", str(repo_config("fraud-scoring")), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == [str(out / name) for name in FILES]
    for name in FILES:
        assert yaml.safe_load((out / name).read_text())


def test_render_gpus_per_node_adds_the_gpu_group(
    tmp_path: Path, repo_config: Callable[[str], Path]
) -> None:
    result = run("render", str(repo_config("fraud-scoring")), "-o", str(tmp_path),
                 "--gpus-per-node", "4")
    assert result.exit_code == 0, result.output
    raycluster = yaml.safe_load((tmp_path / "raycluster.yaml").read_text())
    gpu = raycluster["spec"]["workerGroupSpecs"][1]
    assert gpu["template"]["spec"]["containers"][0]["resources"]["limits"][
        "nvidia.com/gpu"] == "4"


def test_render_reads_a_cluster_description(
    tmp_path: Path, repo_config: Callable[[str], Path]
) -> None:
    description = tmp_path / "cluster.yaml"
    description.write_text("name: prod\nnamespace: streaming\n"
                           "gpu_workers: {gpus_per_node: 1}\n")
    result = run("render", str(repo_config("fraud-scoring")), "-c", str(description),
                 "-o", str(tmp_path / "out"), "--gpus-per-node", "0")
    assert result.exit_code == 0, result.output
    raycluster = yaml.safe_load((tmp_path / "out" / "raycluster.yaml").read_text())
    assert raycluster["metadata"] == {**raycluster["metadata"], "name": "prod",
                                      "namespace": "streaming"}
    assert len(raycluster["spec"]["workerGroupSpecs"]) == 1  # the option won over the file


def test_render_prints_warnings_on_stderr(
    tmp_path: Path, repo_config: Callable[[str], Path]
) -> None:
    result = run("render", str(repo_config("demo")), "-o", str(tmp_path))
    assert result.exit_code == 0
    assert "warning:" in result.stderr and "embedded" in result.stderr
    assert "warning:" not in result.stdout and "embedded" not in result.stdout


def test_a_bad_cluster_description_is_a_config_error_naming_the_field(
    tmp_path: Path, repo_config: Callable[[str], Path]
) -> None:
    description = tmp_path / "cluster.yaml"
    description.write_text("head:\n  cpu: 2\n")
    result = run("render", str(repo_config("demo")), "-c", str(description),
                 "-o", str(tmp_path / "out"))
    assert isinstance(result.exception, ConfigError)
    assert "head.cpu: unknown key (did you mean 'cpus'?)" in str(result.exception)
    assert not (tmp_path / "out").exists()


def test_render_never_prints_or_writes_a_secret(
    tmp_path: Path, write_pipeline: Callable[..., Path], sasl: dict[str, Any], fake_secret: str
) -> None:
    out = tmp_path / "out"
    result = run("render", str(write_pipeline(kafka={"security": sasl})), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "KAFKA_PASSWORD" in result.stderr
    written = "".join(p.read_text() for p in out.iterdir())
    assert "secretKeyRef" in written
    assert fake_secret not in result.output + written


@pytest.fixture
def submitted(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def fake(address: str, pipeline: Path, **kwargs: Any) -> Submission:
        calls.append({"address": address, "pipeline": pipeline, **kwargs})
        return Submission(job_id="raysubmit_123", warnings=["mind this"])

    monkeypatch.setattr("streaminfer.cluster.submit.submit_pipeline", fake)
    return calls


def test_submit_passes_its_options_and_prints_the_job_id(
    submitted: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RAY_API_SERVER_ADDRESS", raising=False)
    result = run("submit", "p.yaml", "--pip", "streaminfer==0.1.0", "--pip", "extra",
                 "--check", "--id", "job-7")
    assert result.exit_code == 0, result.output
    assert submitted == [{
        "address": "http://127.0.0.1:8265", "pipeline": Path("p.yaml"),
        "pip": ("streaminfer==0.1.0", "extra"), "check_only": True, "submission_id": "job-7",
    }]
    assert result.stdout.strip() == "raysubmit_123"
    assert "warning: mind this" in result.stderr
    assert "ray job logs --follow --address http://127.0.0.1:8265 raysubmit_123" in result.stderr


def test_submit_defaults_and_no_pip(
    submitted: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAY_API_SERVER_ADDRESS", "http://head:8265")
    assert run("submit", "p.yaml").exit_code == 0
    assert run("submit", "p.yaml", "--no-pip", "--address", "http://other:8265").exit_code == 0
    assert [(c["address"], c["pip"], c["check_only"]) for c in submitted] == [
        ("http://head:8265", ("streaminfer",), False),
        ("http://other:8265", (), False),
    ]


def test_submit_to_nowhere_is_a_pipeline_error(repo_config: Callable[[str], Path]) -> None:
    result = run("submit", str(repo_config("demo")), "--address", "http://127.0.0.1:9")
    assert isinstance(result.exception, PipelineError)
    assert "cannot reach the Ray Jobs API at http://127.0.0.1:9" in str(result.exception)
