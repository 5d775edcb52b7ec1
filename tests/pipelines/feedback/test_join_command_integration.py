"""``streaminfer join CONFIG``: the joiners alone, in their own process on the session's Ray;
SIGTERM drains them and exits 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import ray
import yaml

from streaminfer.waiting import wait_until

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
COUNT = 50


def joiner_started(name: str, namespace: str) -> bool:
    try:
        ray.get_actor(name, namespace=namespace)
    except ValueError:
        return False
    return True


def test_join_runs_the_joiners_alone_and_drains_on_sigterm(
    pipeline_spec_factory: Any, ray_session: None, fb_section: Any, produce: Any,
    read_topic: Any, tmp_path: Path,
) -> None:
    gcs = ray.get_runtime_context().gcs_address
    # joiners.count 0: the YAML of a split deployment (`run` starts none); `join` runs one.
    spec = pipeline_spec_factory(partitions=2, ray={"address": gcs}, feedback=fb_section(
        label_time_field="known_at", joiners={"count": 0, "num_cpus": 0.25}))
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(spec.model_dump(mode="json", exclude_none=True)))
    proc = subprocess.Popen(
        [sys.executable, "-m", "streaminfer.cli", "join", str(path), "--no-live"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        assert wait_until(lambda: joiner_started(f"{spec.name}-joiner-0-0",
                                                 spec.ray.namespace)
                          or proc.poll() is not None, 120, every_s=0.5)
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        fb = spec.feedback
        assert fb is not None
        ids = [f"e{i}" for i in range(COUNT)]
        now = int(time.time() * 1000)
        predictions = [orjson.dumps({"id": i, "model": "m", "model_version": "v1", "label": 0,
                                     "probabilities": [0.75, 0.25], "latency_ms": 1,
                                     "ts": now, "features": {"a": n}})
                       for n, i in enumerate(ids)]
        produce(spec.sink.predictions_topic, predictions, [i.encode() for i in ids])
        produce(fb.labels_topic, [orjson.dumps({"id": i, "label": n % 2, "known_at": now + n})
                                  for n, i in enumerate(ids)], [i.encode() for i in ids])
        examples = {orjson.loads(r.value)["id"]: orjson.loads(r.value)
                    for r in read_topic(fb.training_topic, COUNT, timeout_s=90)}
        assert sorted(examples) == sorted(ids)
        for n, event_id in enumerate(ids):
            example = examples[event_id]
            assert (example["label"], example["features"], example["outputs"]) == (
                n % 2, {"a": n}, {"label": 0, "probabilities": [0.75, 0.25]})
            assert example["predicted_at"] == now
            assert (example["labelled_at"], example["label_delay_ms"]) == (now + n, n)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr[-2000:]
    assert f"stopped: {COUNT} joined, {COUNT} examples out" in stdout


def test_run_with_no_joiners_starts_none_and_its_predictions_carry_features(
    feedback_pipeline: Any, make_events: Any, dataset_factory: Any, produce: Any,
    read_topic: Any,
) -> None:
    run = feedback_pipeline(joiners={"count": 0, "num_cpus": 0.25})
    assert run.pipeline.feedback() is None
    assert not joiner_started(f"{run.spec.name}-joiner-0-0", run.spec.ray.namespace)
    data = dataset_factory("breast_cancer")
    keys, values = make_events(data, 20)
    produce(run.source_topic, values, keys)
    predictions = [orjson.loads(r.value) for r in read_topic(run.predictions_topic, 20)]
    assert sorted(p["id"] for p in predictions) == sorted(f"e{i}" for i in range(20))
    for p in predictions:
        row = data.X[int(p["id"][1:]) % len(data.X)]
        assert p["features"] == dict(zip(data.features, row.tolist(), strict=True))
