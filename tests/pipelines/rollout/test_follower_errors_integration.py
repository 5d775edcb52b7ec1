"""The alias follower outlives an error of a poll: its model store dies (``max_restarts=0``)
while it swaps; the error is logged, kept and shown in the stats and on /metrics, and a
later promote is applied. Before, the thread ended silently and never swapped again."""

from __future__ import annotations

import logging
import re
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from streaminfer.cli.commands import app
from streaminfer.operators.metric_names import DRIVER_THREAD_LAST_ERROR
from streaminfer.operators.model_runner import read_model_file
from streaminfer.pipelines.feedback.status import parse_status
from streaminfer.pipelines.lifecycle.registry import Registry
from streaminfer.pipelines.lifecycle.versions import Version
from streaminfer.pipelines.runtime.model_store import ModelStore
from streaminfer.waiting import wait_until

pytestmark = pytest.mark.integration


def test_the_follower_survives_a_dead_model_store_and_applies_a_later_promote(
    two_versions: Registry, following: Callable[..., Any], caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    import ray

    caplog.set_level(logging.WARNING, logger="streaminfer.pipelines.runtime.driver_thread")
    registry = two_versions
    running = following(partitions=1, workers={"count": 1})
    pipeline = running.pipeline
    follower = pipeline.follower
    assert follower is not None and follower.serving == {"bc": "1"}
    stores = follower.swapper.live.stores  # type: ignore[attr-defined]
    ray.kill(stores["bc"], no_restart=True)

    registry.promote("bc", "2")  # the swap puts version 2 in the dead store: it fails
    assert wait_until(lambda: follower.thread.last_error is not None, 30)
    error = follower.thread.last_error
    assert error is not None and error.thread == "alias follower"
    assert "Actor" in error.error, error  # Ray's ActorDiedError, named
    assert follower.serving == {"bc": "1"} and follower.thread.alive
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(m.startswith("alias follower stopped working: ") for m in warned), warned
    # The pipeline's stats, its /metrics endpoint and `streaminfer status` show it.
    assert [e.error for e in pipeline.stats().thread_errors] == [error.error]
    assert pipeline.metrics_url is not None
    with urllib.request.urlopen(pipeline.metrics_url, timeout=10) as answer:
        text = answer.read().decode()
    served = [s.labels for f in text_string_to_metric_families(text)
              if f.name == DRIVER_THREAD_LAST_ERROR for s in f.samples]
    assert served and served[0]["thread"] == "alias follower", served
    assert [e.thread for e in parse_status(text).thread_errors] == ["alias follower"]
    data = running.spec.model_dump(mode="json", exclude_none=True)
    data["metrics"]["port"] = int(pipeline.metrics_url.rsplit(":", 1)[1].split("/")[0])
    config = tmp_path / "pipeline.yaml"
    config.write_text(yaml.safe_dump(data))
    shown = CliRunner().invoke(app, ["status", str(config)], env={"COLUMNS": "300"})
    assert shown.exit_code == 0, shown.output
    # (the count grows while the store is away: each poll fails again)
    assert re.search(r"alias follower failed \d+ time\(s\), last \d+s ago: ", shown.output), (
        shown.output)

    # A store comes back under the same name, holding what serves: the next poll swaps.
    one = registry.resolve("bc", "1")
    stores["bc"] = ray.remote(ModelStore).options(  # type: ignore[attr-defined]
        name=f"{running.spec.name}-model-bc", namespace=running.spec.ray.namespace,
        num_cpus=0, max_restarts=0,
    ).remote(Version("1", one.sha256, read_model_file(registry.fetch(one), one.sha256)))
    assert wait_until(lambda: follower.serving == {"bc": "2"}, 60), follower.thread.last_error
    assert set(follower.history[-1].workers.values()) == {"2"}
