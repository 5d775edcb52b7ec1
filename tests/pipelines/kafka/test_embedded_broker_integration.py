"""The embedded broker under the demo's own traffic for an hour, compressed in time.

Reading a partition of the embedded broker costs ~0.6 us per record batch it holds, and a
fetch gives up at its max wait. So what matters is how many batches a partition holds after
an hour and how many arrive per second. The test fills one partition with the batches the
demo's traffic leaves there in an hour (capped), then sends live batches at the demo's rate
while a consumer with the demo's fetch settings tails it. The old demo's traffic, which froze
a partition within minutes, is the broker's measured limit: benchmarks/broker_freeze.py.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from streaminfer.pipelines.kafka.embedded_broker import BATCH_LINGER_MS
from streaminfer.pipelines.spec.loader import load_spec

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]
DEMO_YAML = REPO / "configs/demo.yaml"


def freeze_script() -> ModuleType:
    """benchmarks/broker_freeze.py: the tail-while-sending measure, written once."""
    spec = importlib.util.spec_from_file_location(
        "broker_freeze", REPO / "benchmarks" / "broker_freeze.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_demos_traffic_for_an_hour_leaves_a_partition_readable(
    kafka_config, topic_factory, fill_with_batches
):
    bench = freeze_script()
    spec = load_spec(DEMO_YAML)
    rate = bench.batches_per_second(BATCH_LINGER_MS, spec.batching.max_wait_ms)
    hour = min(int(rate * 3600), bench.MOST_BATCHES)
    assert rate <= 5, "the demo would write more batches than the broker can keep up with"
    topic = topic_factory(partitions=1, prefix="hour")
    fill_with_batches(topic, hour)
    live_s = bench.LIVE_S / 2  # each of ~24 batches read within a second says it as well as 48
    sent, read, slowest = bench.tail_while_sending(
        kafka_config, topic, hour, rate=rate, fetch_max_wait_ms=spec.fetch_max_wait_ms,
        live_s=live_s)
    assert sent >= live_s * rate * 0.8
    assert read == sent, f"read {read} of {sent} after an hour's worth of batches"
    # A frozen partition's batches never come back (read < sent). Here the slowest takes
    # ~70 ms alone; under the whole suite's load one took 1,132 ms, so the bound is 50 times
    # the demo's fetch wait, far from both.
    assert slowest < 50 * spec.fetch_max_wait_ms, f"a batch took {slowest:.0f} ms to be read"
