"""The `streaminfer` command as a user runs it: real processes, real broker, real Ray."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import yaml

from streaminfer.pipelines.embedded_broker import free_port

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "streaminfer.pipelines.cli"]


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


def test_unknown_key_wrong_type_missing_model_and_unreachable_broker_are_one_clear_line_each(
    tmp_path, pipeline_yaml
):
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


def test_every_shipped_config_validates(tmp_path):
    models = tmp_path / "models"
    assert streaminfer("build-models", "--out", models).returncode == 0
    for config in sorted((REPO / "configs").glob("*.yaml")):
        text = config.read_text().replace("../models/", f"{models}/")
        copy = tmp_path / config.name
        copy.write_text(text)
        result = streaminfer("validate-config", copy)
        assert result.returncode == 0, (config.name, result.stderr)
        assert result.stdout.startswith("ok "), result.stdout


def test_run_scores_and_stops_cleanly_on_sigint(tmp_path, pipeline_yaml, produce, read_topic):
    path = write_yaml(tmp_path / "p.yaml", pipeline_yaml)
    proc = subprocess.Popen([*CLI, "run", str(path), "--no-live"], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "COLUMNS": "200"})
    try:
        for line in proc.stderr:  # wait for the pipeline to say it runs
            if "running: kafka" in line:
                break
        else:
            pytest.fail(f"run exited early: {proc.wait()}")
        source = pipeline_yaml["source"]
        good = {name: 1.0 for name in source["features"]}
        values = [orjson.dumps({"id": f"e{i}", **good}) for i in range(300)]
        produce(source["topics"][0], values)
        assert len(read_topic(pipeline_yaml["sink"]["predictions_topic"], 300)) == 300
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert "stopped: 300 events, 300 predictions, 0 dead letters" in stdout


def test_demo_stops_by_itself_and_its_numbers_add_up(tmp_path):
    config = yaml.safe_load((REPO / "configs/demo.yaml").read_text())
    config["kafka"]["embedded"]["port"] = 0
    config["metrics"]["port"] = 0
    config["model"]["path"] = str(tmp_path / "models/breast_cancer.onnx")
    path = write_yaml(tmp_path / "demo.yaml", config)
    result = streaminfer("demo", "--events", "1000", "--rate", "1000", "--config", path,
                         timeout=240, env={**os.environ, "COLUMNS": "120"})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads(result.stdout[result.stdout.rindex("{"):])
    assert summary["events"] == 1000 and summary["adds_up"] is True
    assert summary["predictions"] + summary["dead_letters"] == 1000
    assert summary["dead_letters"] == summary["bad_injected"] == 10
    assert (tmp_path / "models/breast_cancer.onnx").exists()


def test_produce_then_tail_round_trip(tmp_path, broker, topic_factory):
    topic = topic_factory(partitions=1)
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps({"id": f"k{i}", "v": i}) + "\n" for i in range(5)))
    sent = streaminfer("produce", events, "--topic", topic, "--key-field", "id",
                       "-b", broker.bootstrap_servers)
    assert sent.returncode == 0 and "sent 5 events" in sent.stderr
    shown = streaminfer("tail", topic, "--from-beginning", "--max", "5", "--raw",
                        "-b", broker.bootstrap_servers)
    records = [json.loads(line) for line in shown.stdout.splitlines()]
    assert [(r["key"], r["value"]["v"]) for r in records] == [(f"k{i}", i) for i in range(5)]
