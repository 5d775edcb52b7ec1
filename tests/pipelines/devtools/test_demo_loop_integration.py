"""``streaminfer demo --loop``, shortened: on the session's broker and Ray, from a registry of
its own, the shift makes live accuracy fall, the pipeline retrains by itself, the candidate
passes the gate, shadows, is promoted and serves; a SIGTERM drains the demo and every event
is accounted for. The alerts, predictions and labelled examples it left on the broker tell
the story."""

from __future__ import annotations

import io
import itertools
import os
import re
import signal
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from rich.console import Console

from streaminfer.operators.records import Record
from streaminfer.pipelines.devtools.demo import run_demo
from streaminfer.pipelines.kafka.embedded_broker import EmbeddedBroker
from streaminfer.pipelines.kafka.topic_reader import TopicReader
from streaminfer.pipelines.spec.config_io import deep_merge
from streaminfer.pipelines.validation.moments import alert_label
from tests.fixtures.kafka import FAST_GROUP, unique

pytestmark = pytest.mark.integration

LOOP_YAML = Path(__file__).parents[3] / "configs" / "demo-loop.yaml"
RATE, SHIFT_AFTER = 1_000, 1_500  # few unshifted examples: the first candidate learns the shift
V2_EXAMPLES = 300  # labelled examples of the promoted version before the SIGTERM
DEADLINE_S = 150.0


class LoopWatcher(threading.Thread):
    """Tails the alerts and the training topic until the promoted version has
    :data:`V2_EXAMPLES` labelled examples, then sends this process a SIGTERM (also at the
    deadline, so a loop that does not close fails on its assertions, not by hanging)."""

    def __init__(self, config: dict[str, Any], alerts: str, training: str) -> None:
        super().__init__(name="loop-watcher", daemon=True)
        self.config, self.topics = config, [alerts, training]
        self.alerts: list[dict[str, Any]] = []
        self.examples: Counter[str] = Counter()
        self.error: BaseException | None = None
        self.halt = threading.Event()  # the demo ended on its own: send nothing

    @property
    def promoted(self) -> str | None:
        return next((a["version"] for a in self.alerts if a["kind"] == "promote"), None)

    def run(self) -> None:
        try:
            deadline = time.monotonic() + DEADLINE_S
            with TopicReader(self.config, self.topics, metadata_timeout_s=DEADLINE_S) as reader:
                while time.monotonic() < deadline and not self._done() \
                        and not self.halt.is_set():
                    for record in reader.poll(timeout_ms=200):
                        value = orjson.loads(record.value or b"")
                        if record.topic == self.topics[0]:
                            self.alerts.append(value)
                        else:
                            self.examples[value["model_version"]] += 1
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            if not self.halt.is_set():
                os.kill(os.getpid(), signal.SIGTERM)

    def _done(self) -> bool:
        promoted = self.promoted
        return promoted is not None and self.examples[promoted] >= V2_EXAMPLES


def test_the_loop_closes_by_itself(
    tmp_path: Path, ray_session: None, broker: EmbeddedBroker, kafka_config: dict[str, Any],
) -> None:
    config, topics = loop_config(tmp_path, broker)
    watcher = LoopWatcher(kafka_config, topics["alerts"], topics["training"])
    watcher.start()
    console = Console(file=io.StringIO(), width=160)
    try:
        code = run_demo(config, events=None, rate=RATE, bad_every=100,
                        shift_after=SHIFT_AFTER, label_delay_s=1.0, loop=True, console=console)
    finally:
        watcher.halt.set()  # a demo that failed must not get a SIGTERM meant for it later
        watcher.join(30)
    shown = console.file.getvalue()  # type: ignore[attr-defined]
    assert watcher.error is None, watcher.error
    assert code == 0, shown[-3000:]
    assert "all events accounted for" in shown, shown[-3000:]

    # The loop's alerts, in its order: retrain, candidate (gate passed), shadow, promote, swap.
    alerts = watcher.alerts
    first = {kind: next((a for a in alerts if a["kind"] == kind), None)
             for kind in ("retrain", "candidate", "shadow", "promote", "swap")}
    assert all(first.values()), [a["kind"] for a in alerts]
    promoted = watcher.promoted
    assert promoted is not None and promoted != "1"
    # (a candidate the gate rejects, trained before enough shifted examples came, is retried)
    mine = {kind: next(a for a in alerts if a["kind"] == kind and a["version"] == promoted)
            for kind in ("candidate", "shadow", "promote", "swap")}
    assert alert_label("candidate", promoted, mine["candidate"]["message"]) == \
        f"v{promoted} passed the gate", mine["candidate"]
    times = [first["retrain"]["ts"]] + [mine[k]["ts"] for k in mine]
    assert times == sorted(times), alerts
    assert not [a for a in alerts if a["kind"] == "rollback"], alerts
    # The screen's summary of the loop names the promotion and the accuracies.
    assert re.search(rf"promote at\W+\+\d+:\d\d\.\d \(v{promoted}\)", shown), shown[-2500:]
    assert "accuracy after the promotion" in shown

    # Every prediction: version 1, then the promoted version, switching once per partition.
    predicted = int(re.findall(r'"predictions": (\d+)', shown)[-1])
    records = read_all(kafka_config, topics["predictions"], predicted)
    assert len(records) == predicted
    by_partition: dict[int, list[str]] = defaultdict(list)
    for record in records:
        by_partition[record.partition].append(orjson.loads(record.value or b"")["model_version"])
    for versions in by_partition.values():
        switches = [(a, b) for a, b in itertools.pairwise(versions) if a != b]
        assert switches in ([], [("1", promoted)]), switches
    assert sum(v.count(promoted) for v in by_partition.values()) >= V2_EXAMPLES

    # After the shift, the promoted version is right where version 1 went wrong.
    examples = read_all(kafka_config, topics["training"], sum(watcher.examples.values()))
    accuracy = post_shift_accuracy(examples)
    assert accuracy["1"] < 0.9, accuracy
    assert accuracy[promoted] > accuracy["1"] + 0.05, accuracy


def loop_config(tmp_path: Path, broker: EmbeddedBroker) -> tuple[Path, dict[str, str]]:
    """configs/demo-loop.yaml on the session's broker, fresh topics, a registry in
    ``tmp_path``, and windows, thresholds and polls short enough for a test."""
    topics = {"alerts": unique("loop-alerts"), "training": unique("loop-examples"),
              "predictions": unique("loop-predictions")}
    data = deep_merge(yaml.safe_load(LOOP_YAML.read_text()), {
        "name": unique("loop"),
        "kafka": {"bootstrap_servers": broker.bootstrap_servers, **FAST_GROUP},
        "source": {"topics": [unique("loop-events")], "group_id": unique("loop-group"),
                   "partitions": 2},
        "registry": {"tracking_uri": f"sqlite:///{tmp_path / 'registry' / 'mlflow.db'}",
                     "cache_dir": str(tmp_path / "cache")},
        "batching": {"max_wait_ms": 100},
        "sink": {"predictions_topic": topics["predictions"],
                 "dead_letter_topic": unique("loop-dead")},
        "workers": {"count": 1},
        "metrics": {"port": 0},
        "drift": {"alerts_topic": topics["alerts"], "window_s": 10},
        "feedback": {"labels_topic": unique("loop-labels"), "training_topic": topics["training"],
                     "flush_every_ms": 100, "joiners": {"num_cpus": 0.25},
                     "live": {"window": 300}},
        "retrain": {"source": {"topic": topics["training"]}, "min_examples": 300,
                    "when": {"metric_floor": {"min_examples": 300}, "cooldown_s": 20,
                             "check_every_s": 0.5}},
        "rollout": {"poll_interval_s": 0.5, "alerts_topic": topics["alerts"],
                    "promote": {"min_examples": 200}, "rollback": {"min_examples": 200}},
    })
    del data["kafka"]["embedded"]
    path = tmp_path / "loop.yaml"
    path.write_text(yaml.safe_dump(data))
    return path, topics


def read_all(config: dict[str, Any], topic: str, count: int) -> list[Record]:
    with TopicReader(config, [topic]) as reader:
        records = reader.read(count, timeout_s=60)
    return records


def post_shift_accuracy(examples: list[Record]) -> dict[str, float]:
    """Accuracy per version on the examples of events from the shift on (the demo's ids are
    ``evt-<index>``)."""
    right: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    for record in examples:
        example = orjson.loads(record.value or b"")
        if int(example["id"].split("-")[1]) < SHIFT_AFTER:
            continue
        version = example["model_version"]
        seen[version] += 1
        right[version] += example["outputs"]["label"] == example["label"]
    return {version: right[version] / seen[version] for version in seen}

