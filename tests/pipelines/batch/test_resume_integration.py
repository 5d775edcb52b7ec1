"""Interrupt and resume: `streaminfer batch` stopped by SIGTERM half way, then run again,
leaves every row scored exactly once and no half-written file under a final name. The run
stopped is a real process (what the signal does to it is what is proven); the run again
goes through the same entry point in this process (``streaminfer_here``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import orjson
import psutil
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from streaminfer.waiting import wait_until
from tests.fixtures.cli import streaminfer_here
from tests.pipelines.batch.conftest import with_batch

pytestmark = pytest.mark.integration

ROWS = 40_000  # 40 units: a stop after the third leaves most of them to the resume
UNIT = 1_000
REPO = Path(__file__).resolve().parents[3]


def _big_parquet(path: Path, dataset) -> None:
    index = np.arange(ROWS)
    columns = {"id": pa.array([f"e{i}" for i in index])}
    values = dataset.X[index % len(dataset.X)]
    for column, name in enumerate(dataset.features):
        columns[name] = pa.array(values[:, column])
    pq.write_table(pa.table(columns), path, row_group_size=UNIT)


def _arguments(config: Path, source: Path, out: Path) -> list[str]:
    return ["batch", str(config), "--input", str(source), "--out", str(out), "--no-progress"]


def _done(manifest: Path) -> int:
    try:
        return len(orjson.loads(manifest.read_bytes())["done"])
    except (FileNotFoundError, orjson.JSONDecodeError):
        return 0


@pytest.mark.parametrize("runner", ["ray", "process"])
def test_stopped_by_sigterm_then_resumed_scores_every_row_once(
    pipeline_spec_factory, dataset_factory, tmp_path: Path, ray_address: str, runner: str
) -> None:
    # On Ray Data, both runs join the session's Ray (ray.address), rather than start one
    # each: what is proven is the stop and the resume, not a local Ray's start. In process,
    # no Ray at all: the signal lands in the thread that scores.
    ray = {"address": ray_address} if runner == "ray" else {}
    spec = with_batch(pipeline_spec_factory(ray=ray), actors=1, num_cpus=1, unit_rows=UNIT,
                      runner=runner)
    config = tmp_path / "pipeline.yaml"
    config.write_text(yaml.safe_dump(spec.model_dump(mode="json", exclude_none=True)))
    source, out = tmp_path / "rows.parquet", tmp_path / "out"
    _big_parquet(source, dataset_factory("breast_cancer"))
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    first = subprocess.Popen([sys.executable, "-m", "streaminfer.cli",
                              *_arguments(config, source, out)], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    assert wait_until(lambda: _done(out / "_manifest.json") >= 3 or first.poll() is not None,
                      timeout_s=240), "no unit finished in time"
    first.send_signal(signal.SIGTERM)
    stdout, stderr = first.communicate(timeout=120)
    assert first.returncode == 0, stderr.decode()[-2000:]
    assert b"stopped" in stdout and b"run the same command again" in stdout
    assert b"streaming_executor" not in stderr, stderr.decode()  # Ray Data's INFO lines
    manifest = orjson.loads((out / "_manifest.json").read_bytes())
    assert 3 <= len(manifest["done"]) < ROWS // UNIT
    for part in out.glob("part-*.parquet"):  # whatever carries a final name is whole
        assert pq.read_metadata(part).num_rows == UNIT

    second = streaminfer_here(*_arguments(config, source, out), cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "complete: 40,000 rows = 40,000 predictions + 0 dead letters" in second.stdout
    assert f"({len(manifest['done'])} skipped as done)" in second.stdout
    assert not [p for p in out.rglob("*") if p.name.startswith(".")], "temporary files left"
    ids = pq.read_table(sorted(out.glob("part-*.parquet")), columns=["id"]).column("id")
    assert len(ids) == ROWS
    assert set(ids.to_pylist()) == {f"e{i}" for i in range(ROWS)}


def test_a_sigterm_while_its_ray_starts_stops_the_job_in_one_line_with_nothing_lost(
    pipeline_spec_factory, dataset_factory, tmp_path: Path
) -> None:
    """``ray.init`` answers a SIGTERM with ``sys.exit(15)`` while it starts: the job says it
    stopped and exits 0 (or, had Ray just finished starting, stops as mid-run), and leaves
    no Ray process behind. Its own Ray: the signal comes when its GCS server is up."""
    spec = with_batch(pipeline_spec_factory(), actors=1, num_cpus=1, unit_rows=UNIT,
                      runner="ray")
    config = tmp_path / "pipeline.yaml"
    config.write_text(yaml.safe_dump(spec.model_dump(mode="json", exclude_none=True)))
    source, out = tmp_path / "rows.parquet", tmp_path / "out"
    _big_parquet(source, dataset_factory("breast_cancer"))
    env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
    env["PYTHONPATH"] = str(REPO)
    job = subprocess.Popen([sys.executable, "-m", "streaminfer.cli",
                            *_arguments(config, source, out)], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
    process = psutil.Process(job.pid)

    def ray_processes() -> list[psutil.Process]:
        try:
            return [p for p in process.children(recursive=True)
                    if p.name() in ("gcs_server", "raylet")]
        except psutil.Error:
            return []

    assert wait_until(lambda: bool(ray_processes()) or job.poll() is not None, 120)
    started = ray_processes()
    job.send_signal(signal.SIGTERM)
    stdout, stderr = job.communicate(timeout=120)
    assert job.returncode == 0, stderr.decode()[-2000:]
    assert b"Traceback" not in stderr, stderr.decode()
    assert (b"SIGTERM while Ray was starting: stopped before anything ran" in stderr
            or b"run the same command again" in stdout), (stdout + stderr).decode()[-2000:]
    assert started and wait_until(lambda: not any(p.is_running() and p.status() != "zombie"
                                                  for p in started), 30), "Ray left running"
    manifest = orjson.loads((out / "_manifest.json").read_bytes())
    assert len(manifest["done"]) < ROWS // UNIT
