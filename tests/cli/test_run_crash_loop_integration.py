"""`streaminfer run` on a pipeline whose worker crashes on the same record again and again
exits 2 with the crash loop's one line, and no traceback (the crash: a poison record,
``tests/fixtures/poison.py``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures.cli import one_clear_error, streaminfer
from tests.fixtures.poison import keyless_tombstone

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def test_run_stops_a_crash_loop_with_one_line_and_exit_2(
    tmp_path: Path, pipeline_spec_factory: Callable[..., Any], ray_address: str,
    dataset_factory: Callable[[str], Any],
    make_events: Callable[..., tuple[list[bytes], list[bytes]]],
    produce: Callable[..., None], kafka_config: dict[str, Any],
) -> None:
    spec = pipeline_spec_factory(partitions=1, workers={"count": 1, "max_restarts": 6})
    keys, values = make_events(dataset_factory("breast_cancer"), 50)
    produce(spec.source.topics[0], values, keys)
    keyless_tombstone(kafka_config, spec.source.topics[0])
    data = spec.model_dump(mode="json", exclude_defaults=True)
    data["kafka"]["bootstrap_servers"] = spec.kafka.bootstrap_servers
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(data))

    result = streaminfer("run", path, "--no-live", "--address", ray_address, cwd=REPO)
    err = one_clear_error(result)
    assert ("error: workers crashed 3 times in 60 s with: ValueError: Need at least one: key "
            "or value (in pipelines/kafka/sink.py); stopped.") in err, err
