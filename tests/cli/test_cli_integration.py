"""The `streaminfer` command as a user runs it: real processes, real broker, real Ray."""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest
import yaml

from streaminfer.pipelines.process.ports import free_port
from tests.fixtures.cli import streaminfer_here
from tests.fixtures.kafka import FAST_GROUP
from tests.fixtures.models import models_locked

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "streaminfer.cli"]


def streaminfer(*args, timeout=120, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, **kwargs)


def write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def one_clear_error(result: subprocess.CompletedProcess) -> str:
    """The process failed with exit code 2 and an `error:` message, without a traceback."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stderr.count("error:") == 1, result.stderr
    return result.stderr[result.stderr.index("error:"):]


@pytest.fixture
def pipeline_yaml(tmp_path, pipeline_spec_factory):
    """A pipeline YAML file on the session broker with fresh topics (as a dict + writer)."""
    spec = pipeline_spec_factory()
    data = spec.model_dump(mode="json", exclude_defaults=True)
    data["kafka"]["bootstrap_servers"] = spec.kafka.bootstrap_servers
    return data


# Errors before any process of its own matters: the entry point in this process (main()
# makes the one line either way); the session's Ray, should `run` ever get as far.
def test_unknown_key_wrong_type_missing_model_and_unreachable_broker_are_one_clear_line_each(
    tmp_path, pipeline_yaml, ray_session
):
    def streaminfer(*args):
        return streaminfer_here(*args, cwd=REPO)

    typo = {**pipeline_yaml, "batching": {"max_sise": 10}}
    err = one_clear_error(streaminfer("validate-config", write_yaml(tmp_path / "a.yaml", typo)))
    assert "batching.max_sise: unknown key (did you mean 'max_size'?). Allowed" in err

    wrong = {**pipeline_yaml, "workers": {"count": "two"}}
    err = one_clear_error(streaminfer("validate-config", write_yaml(tmp_path / "b.yaml", wrong)))
    assert "workers.count" in err and "valid integer" in err and "b.yaml" in err

    missing = {**pipeline_yaml, "model": {"path": "nowhere/model.onnx"}}
    err = one_clear_error(streaminfer("run", write_yaml(tmp_path / "c.yaml", missing)))
    assert f"model file {tmp_path / 'nowhere/model.onnx'} not found" in err

    port = free_port()
    unreachable = {**pipeline_yaml, "kafka": {"bootstrap_servers": f"127.0.0.1:{port}"}}
    err = one_clear_error(streaminfer("run", write_yaml(tmp_path / "d.yaml", unreachable)))
    assert f"cannot reach Kafka at 127.0.0.1:{port}" in err


def test_every_shipped_config_validates(tmp_path, model_dir):
    """`build-models` leaves what every shipped config needs. It trains only what is
    missing, so it starts from the models the session trained so far (the same ``build``);
    the commands run in this process (the other tests here run real ones)."""
    from streaminfer.pipelines.devtools.example_models import EXAMPLES

    models = tmp_path / "models"
    with models_locked(model_dir):
        shutil.copytree(model_dir, models, ignore=shutil.ignore_patterns(".lock"))
    for config in sorted((REPO / "configs").glob("*.yaml")):
        text = config.read_text().replace("../models/", f"{models}/")
        (tmp_path / config.name).write_text(text)
    built = streaminfer_here("build-models", "--out", models, cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    for name in EXAMPLES:
        assert f"{models / name}.onnx  (sha256 in {name}.onnx.sha256)" in built.stdout
    for config in sorted((REPO / "configs").glob("*.yaml")):
        seed_registry(tmp_path / config.name, models)
        result = streaminfer_here("validate-config", tmp_path / config.name, cwd=tmp_path)
        assert result.returncode == 0, (config.name, result.stderr)
        assert result.stdout.startswith("ok "), result.stdout
        # a registry version as v1, a file model's as its sha256, never "v" + a hash
        assert re.search(r" model \S+ (v\d+|sha256 [0-9a-f]{12}): ", result.stdout), result.stdout


def seed_registry(config: Path, models: Path) -> None:
    """A config on models:/NAME@ALIAS (the loop demo's) gets a registry of its own in the
    config's folder, holding the example model NAME names as that alias."""
    data = yaml.safe_load(config.read_text())
    path = str(data["model"]["path"]) if "model" in data else ""
    match = re.fullmatch(r"models:/([\w.-]+)@(\w+)", path)
    if match is None:
        return
    folder = config.parent / f"{config.stem}-registry"
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    data["registry"] = {"tracking_uri": uri, "cache_dir": str(folder / "cache")}
    write_yaml(config, data)
    model = models / f"{match[1].replace('-', '_')}.onnx"
    result = streaminfer_here("models", "register", match[1], model, "--alias", match[2],
                              "--tracking-uri", uri, cwd=config.parent)
    assert result.returncode == 0, result.stderr


def wait_for_line(proc: subprocess.Popen[str], text: str, timeout_s: float) -> str:
    """The first line of its stderr holding ``text`` (the line joined when wrapped)."""
    lines: queue.Queue[str | None] = queue.Queue()
    assert proc.stderr is not None
    stderr = proc.stderr
    threading.Thread(target=lambda: [lines.put(line) for line in stderr] + [lines.put(None)],
                     daemon=True).start()
    deadline = time.monotonic() + timeout_s
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        if line is None:
            pytest.fail(f"exited with {proc.wait()} before saying {text!r}")
        if text in line:
            return line
    pytest.fail(f"nothing said {text!r} within {timeout_s:.0f}s")


def start_run(path: Path, *extra: str, env: dict[str, str] | None = None
              ) -> tuple[subprocess.Popen[str], str]:
    """`streaminfer run PATH` as a subprocess (in ``env``, else this one's), once it says the
    pipeline runs; with what its stderr said until then."""
    proc = subprocess.Popen([*CLI, "run", str(path), "--no-live", *extra], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**(env or os.environ), "COLUMNS": "400"})
    assert proc.stderr is not None
    said = []
    for line in proc.stderr:  # wait for the pipeline to say it runs
        said.append(line)
        if "running: kafka" in line:
            return proc, "".join(said)
    proc.kill()
    pytest.fail(f"run exited early: {proc.wait()}: {proc.stderr.read()}")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_run_drains_mid_stream_and_exits_0_on_sigint_and_sigterm(
    tmp_path, pipeline_yaml, produce, read_topic, read_all, committed_offsets, sig, ray_address
):
    """As Kubernetes, docker stop and systemd stop it: events keep coming while it stops.
    The SIGTERM run starts its own Ray (whose ray.init takes SIGTERM over: the drain must win
    it back); the SIGINT run joins the session's Ray (--address), one Ray start less."""
    source = pipeline_yaml["source"]
    topic, group = source["topics"][0], source["group_id"]
    good = {name: 1.0 for name in source["features"]}
    values = [orjson.dumps({"id": f"e{i}", **good}) if i % 50 else b"not json"
              for i in range(6000)]
    join = ["--address", ray_address] if sig == signal.SIGINT else []
    # Its own Ray starts as in a user's shell: not told the authentication mode that the
    # session's Ray set in this process's environment.
    own = {k: v for k, v in os.environ.items() if k != "RAY_AUTH_MODE"} if not join else None
    proc, started = start_run(write_yaml(tmp_path / "p.yaml", pipeline_yaml), *join, env=own)
    feeding = threading.Thread(target=lambda: [produce(topic, values[i:i + 100])
                                               for i in range(0, len(values), 100)])
    try:
        feeding.start()
        read_topic(pipeline_yaml["sink"]["predictions_topic"], 500)  # it is scoring now
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=90)
    finally:
        feeding.join()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr and "SIGTERM received" not in stderr
    # Nothing on screen that is not the pipeline's: not Ray's note on token authentication
    # (printed where a run starts a Ray of its own), not its copies of the actors' lines.
    assert "Token authentication" not in started + stderr
    assert "pid=" not in started + stderr
    events, predictions, dead = _stopped_counts(stdout)
    assert 500 <= events < len(values), "stopped mid-stream"
    assert predictions + dead == events
    assert sum(committed_offsets(group, topic).values()) == events
    # It exited 0: every send was acked, so the topics hold all there will be.
    out = read_all(pipeline_yaml["sink"]["predictions_topic"])
    letters = read_all(pipeline_yaml["sink"]["dead_letter_topic"])
    assert (len(out), len(letters)) == (predictions, dead)


def test_run_says_so_in_one_line_when_the_broker_stops_answering(
    tmp_path, pipeline_spec_factory, fill_with_batches, ray_address
):
    """A partition full of one-record batches, which the broker cannot list within the
    workers' fetch wait (2 ms here: a listing of 25,000 batches takes ~15 ms), so fetches
    come back empty while 25,000 events wait. The run joins the session's Ray."""
    spec = pipeline_spec_factory(partitions=1, metrics={"port": 0, "stall_after_s": 1},
                                 source={"fetch_max_wait_ms": 2})
    data = spec.model_dump(mode="json", exclude_defaults=True)
    data["kafka"]["bootstrap_servers"] = spec.kafka.bootstrap_servers
    fill_with_batches(spec.source.topics[0], 25_000, b'{"id": "x"}')
    proc, _ = start_run(write_yaml(tmp_path / "stuck.yaml", data),
                        "--address", ray_address)
    assert proc.stderr is not None
    try:
        line = wait_for_line(proc, "wait in the source topics", timeout_s=90)
        assert re.search(r"read in \d+s while 2\d,\d\d\d wait", line), line
        proc.send_signal(signal.SIGTERM)
        stdout, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert _stopped_counts(stdout)[0] < 25_000


def _stopped_counts(stdout: str) -> tuple[int, int, int]:
    found = re.search(r"stopped: ([\d,]+) events, ([\d,]+) predictions, ([\d,]+) dead "
                      r"letters", stdout)
    assert found, stdout
    events, predictions, dead = (int(g.replace(",", "")) for g in found.groups())
    return events, predictions, dead


def test_demo_stops_by_itself_and_its_numbers_add_up(tmp_path, ray_address):
    """A real `streaminfer demo` process: its own broker, the model trained, every event
    accounted for. It joins the session's Ray (the `run` tests start one of their own)."""
    config = yaml.safe_load((REPO / "configs/demo.yaml").read_text())
    config["kafka"]["embedded"]["port"] = 0
    config["kafka"].update(FAST_GROUP)  # its two group joins held 2 s, not 3
    config["metrics"]["port"] = 0
    config["ray"] = {"address": ray_address}
    config["model"]["path"] = str(tmp_path / "models/breast_cancer.onnx")
    path = write_yaml(tmp_path / "demo.yaml", config)
    result = streaminfer("demo", "--max-events", "1000", "--rate", "1000", "--config", path,
                         timeout=240, env={**os.environ, "COLUMNS": "120"})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads(result.stdout[result.stdout.rindex("{"):])
    assert summary["events"] == 1000 and summary["adds_up"] is True
    assert summary["predictions"] + summary["dead_letters"] == 1000
    assert summary["dead_letters"] == summary["bad_injected"] == 10
    assert (tmp_path / "models/breast_cancer.onnx").exists()
    assert "pid=" not in result.stdout + result.stderr  # no actor's line in the live view


def test_produce_then_tail_round_trip(tmp_path, broker, topic_factory):
    topic = topic_factory(partitions=1)
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps({"id": f"k{i}", "v": i}) + "\n" for i in range(5)))
    sent = streaminfer("produce", events, "--topic", topic, "--key-field", "id",
                       "-b", broker.bootstrap_servers)
    assert sent.returncode == 0 and "sent 5 events" in sent.stderr
    shown = streaminfer("tail", topic, "--from-beginning", "--max-events", "5", "--raw",
                        "-b", broker.bootstrap_servers)
    records = [json.loads(line) for line in shown.stdout.splitlines()]
    assert [(r["key"], r["value"]["v"]) for r in records] == [(f"k{i}", i) for i in range(5)]
