"""`streaminfer run` on a pipeline whose worker dies the same way again and again exits 2 with
the crash loop's one line, and no traceback (the crash: its process killed each time it runs
again, ``tests/fixtures/crashes.py``). Two crashes make the loop here (``max_crashes: 2``): the
count and its window are tests/pipelines/online/test_crash_loop_integration.py's and
crash_loop's unit tests'; one restart less is ~4 s less."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from streaminfer.pipelines.runtime.crash_loop import DIED_UNSAID
from tests.fixtures.cli import one_clear_error, streaminfer
from tests.fixtures.crashes import kill_each_run

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def test_run_stops_a_crash_loop_with_one_line_and_exit_2(
    tmp_path: Path, pipeline_spec_factory: Callable[..., Any], ray_address: str,
    dataset_factory: Callable[[str], Any],
    make_events: Callable[..., tuple[list[bytes], list[bytes]]],
    produce: Callable[..., None],
) -> None:
    spec = pipeline_spec_factory(partitions=1, workers={"count": 1, "max_restarts": 12,
                                          "crash_loop": {"max_crashes": 2}})
    keys, values = make_events(dataset_factory("breast_cancer"), 50)
    produce(spec.source.topics[0], values, keys)
    data = spec.model_dump(mode="json", exclude_defaults=True)
    data["kafka"]["bootstrap_servers"] = spec.kafka.bootstrap_servers
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(data))

    results: list[subprocess.CompletedProcess[str]] = []
    command = threading.Thread(target=lambda: results.append(
        streaminfer("run", path, "--no-live", "--address", ray_address, cwd=REPO)))
    command.start()
    kill_each_run(f"{spec.name}-worker-0", spec.ray.namespace, lambda: not command.is_alive())
    command.join()
    err = one_clear_error(results[0])
    assert f"error: workers crashed 2 times in 60 s with: {DIED_UNSAID}; stopped." in err, err
