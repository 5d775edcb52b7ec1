"""Shared fixtures. Integration tests run against one real embedded broker and one real local
Ray per test session; each test gets fresh topics, so tests never see each other's data.

Factories:
- ``model_factory(name)``: an example model trained from scikit-learn's bundled data (cached).
- ``topic_factory(partitions)``: a new, empty topic on the session broker.
- ``pipeline_factory(**overrides)``: a started :class:`Pipeline` on fresh topics.
- ``produce(topic, values, keys=None)`` and ``read_topic(topic, count)``: real Kafka I/O.
- ``make_events(dataset, count)``: JSON events ``e0, e1, ...`` of a dataset's rows, and keys.
- ``feeder(topic, dataset, count, rate=None)``: a thread producing such events (halted and
  joined after the test); ``watcher(topic)``: counts predictions per id on a topic.
- Waiting for remote state: ``streaminfer.waiting.wait_until``.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from kafka import KafkaProducer

from streaminfer import Pipeline, PipelineSpec
from streaminfer.operators.records import Record
from streaminfer.operators.topic_reader import TopicReader
from streaminfer.pipelines.common.embedded_broker import EmbeddedBroker
from streaminfer.pipelines.common.topics import ensure_topics
from streaminfer.pipelines.devtools.example_models import EXAMPLES, Dataset, build
from streaminfer.pipelines.spec.config_io import deep_merge
from streaminfer.pipelines.spec.kafka_settings import client_config
from streaminfer.pipelines.spec.schema import KafkaSpec

REPO = Path(__file__).resolve().parents[1]
logging.getLogger("kafka").setLevel(logging.CRITICAL)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# ---------------------------------------------------------------- models (no broker needed)

@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def model_factory(model_dir: Path) -> Callable[[str], Path]:
    """``model_factory("breast_cancer")`` -> path of the trained ONNX file (trained once)."""

    def make(name: str) -> Path:
        return build(name, model_dir)

    return make


@pytest.fixture(scope="session")
def dataset_factory() -> Callable[[str], Dataset]:
    cache: dict[str, Dataset] = {}

    def get(name: str) -> Dataset:
        if name not in cache:
            cache[name] = EXAMPLES[name].dataset()
        return cache[name]

    return get


# ---------------------------------------------------------------- broker, Ray

@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    """The session's embedded broker (real Kafka protocol, in memory)."""
    with EmbeddedBroker() as running:
        yield running


@pytest.fixture(scope="session")
def kafka_config(broker: EmbeddedBroker) -> dict[str, Any]:
    return client_config(KafkaSpec(bootstrap_servers=broker.bootstrap_servers),
                         broker.bootstrap_servers)


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    """One local Ray for the whole session (pipelines reuse it and leave it running)."""
    import ray

    ray.init(num_cpus=8, include_dashboard=False, namespace="streaminfer",
             logging_level=logging.WARNING)
    yield
    ray.shutdown()


@pytest.fixture(scope="session")
def http_port() -> int:
    """The session's Serve HTTP port (Serve runs one proxy per Ray cluster)."""
    from streaminfer.pipelines.common.embedded_broker import free_port

    return free_port()


@pytest.fixture
def topic_factory(kafka_config: dict[str, Any]) -> Callable[..., str]:
    """``topic_factory(partitions=4, prefix="t")`` -> the name of a new empty topic."""

    def make(partitions: int = 4, prefix: str = "t") -> str:
        name = unique(prefix)
        ensure_topics(kafka_config, {name: partitions}, create_missing=True)
        return name

    return make


@pytest.fixture
def produce(kafka_config: dict[str, Any]) -> Iterator[Callable[..., None]]:
    """``produce(topic, values, keys=None, partition=None)``: send and wait for every ack."""
    producer = KafkaProducer(**kafka_config, acks="all", linger_ms=2)

    def send(topic: str, values: list[bytes | None], keys: list[bytes | None] | None = None,
             partition: int | None = None) -> None:
        keys = keys if keys is not None else [None] * len(values)
        futures = [producer.send(topic, key=k, value=v, partition=partition)
                   for k, v in zip(keys, values, strict=True)]
        producer.flush()
        assert all(f.succeeded() for f in futures), "the broker refused a test record"

    yield send
    producer.close()


@pytest.fixture
def fill_with_batches(kafka_config: dict[str, Any]) -> Callable[..., None]:
    """``fill_with_batches(topic, count, value=b"{}")``: ``count`` one-record batches into
    partition 0, what a producer at its default settings leaves behind under steady trickle
    traffic (librdkafka sends them fast: ~7k batches/s)."""
    from confluent_kafka import Producer

    def fill(topic: str, count: int, value: bytes = b"{}") -> None:
        producer = Producer({"bootstrap.servers": ",".join(kafka_config["bootstrap_servers"]),
                             "linger.ms": 0, "batch.num.messages": 1, "log_level": 3})
        for _ in range(count):
            while True:
                try:
                    producer.produce(topic, value=value, partition=0)
                    break
                except BufferError:  # its queue is full: let it send
                    producer.poll(0.01)
            producer.poll(0)
        assert producer.flush(120) == 0, "the broker did not take every batch"

    return fill


@pytest.fixture
def read_topic(kafka_config: dict[str, Any]) -> Callable[..., list[Record]]:
    """``read_topic(topic, count, timeout_s=60)``: every record until ``count`` arrived."""

    def read(topic: str, count: int, timeout_s: float = 60.0) -> list[Record]:
        with TopicReader(kafka_config, [topic]) as reader:
            return reader.read(count, timeout_s)

    return read


@pytest.fixture
def committed_offsets(kafka_config: dict[str, Any]) -> Callable[[str, str], dict[int, int]]:
    """``committed_offsets(group, topic)`` -> {partition: committed offset} as the broker has
    them (partitions the group never committed are absent)."""
    from kafka import KafkaAdminClient

    def read(group: str, topic: str) -> dict[int, int]:
        admin = KafkaAdminClient(**kafka_config)
        try:
            offsets = admin.list_group_offsets(group)
        finally:
            admin.close()
        offsets = offsets.get(group, offsets)  # {group: {tp: ...}} or {tp: ...}
        return {tp.partition: meta.offset for tp, meta in offsets.items()
                if tp.topic == topic and meta.offset >= 0}

    return read


# ---------------------------------------------------------------- event streams

def events_of(dataset: Dataset, count: int, start: int = 0) -> tuple[list[bytes], list[bytes]]:
    """Keys and JSON values of events ``e<start>`` ... : a dataset's rows, in turn."""
    keys, values = [], []
    for i in range(start, start + count):
        row = dataset.X[i % len(dataset.X)].tolist()
        keys.append(f"e{i}".encode())
        values.append(orjson.dumps({"id": f"e{i}", **dict(zip(dataset.features, row,
                                                               strict=True))}))
    return keys, values


@pytest.fixture(scope="session")
def make_events() -> Callable[..., tuple[list[bytes], list[bytes]]]:
    """``make_events(dataset, count, start=0)`` -> (keys, values) of events e<start>, ..."""
    return events_of


class Feeder(threading.Thread):
    """Produces ``count`` events (ids e0, e1, ...) as fast as it can, or at about ``rate``/s,
    to ``partitions`` in turn (all of them when None); ``sent`` counts them, ``failed``
    holds what went wrong."""

    def __init__(self, config: dict[str, Any], topic: str, dataset: Dataset, count: int,
                 rate: float | None = None, partitions: list[int] | None = None) -> None:
        super().__init__(daemon=True)
        self.producer = KafkaProducer(**config, acks="all", linger_ms=5)
        self.topic, self.dataset, self.count, self.rate = topic, dataset, count, rate
        self.partitions = partitions
        self.halt = threading.Event()
        self.failed: list[BaseException] = []
        self.sent = 0

    def run(self) -> None:
        try:
            for i in range(self.count):
                if self.rate and i and i % 50 == 0 and self.halt.wait(50 / self.rate):
                    return
                keys, values = events_of(self.dataset, 1, start=i)
                partition = self.partitions[i % len(self.partitions)] if self.partitions else None
                self.producer.send(self.topic, key=keys[0], value=values[0],
                                   partition=partition)
                self.sent += 1
            self.producer.flush()
        except BaseException as exc:  # the test reports it
            self.failed.append(exc)
        finally:
            self.producer.close()


@pytest.fixture
def feeder(kafka_config: dict[str, Any]) -> Iterator[Callable[..., Feeder]]:
    """``feeder(topic, dataset, count, rate=None, partitions=None)`` -> a :class:`Feeder`, not
    started; halted and joined after the test."""
    made: list[Feeder] = []

    def make(topic: str, dataset: Dataset, count: int, rate: float | None = None,
             partitions: list[int] | None = None) -> Feeder:
        made.append(Feeder(kafka_config, topic, dataset, count, rate, partitions))
        return made[-1]

    yield make
    for thread in made:
        thread.halt.set()
        if thread.is_alive():
            thread.join(30)


class Watcher:
    """Counts predictions per id on a topic, reading it from the start."""

    def __init__(self, config: dict[str, Any], topic: str) -> None:
        self.reader = TopicReader(config, [topic])
        self.seen: Counter[str] = Counter()

    def until(self, predicate: Callable[[], bool], timeout_s: float = 90.0) -> bool:
        """Read until ``predicate()`` holds or ``timeout_s`` ran out; whether it holds."""
        deadline = time.monotonic() + timeout_s
        while not predicate() and time.monotonic() < deadline:
            for record in self.reader.poll(timeout_ms=200):
                assert record.value is not None
                self.seen[orjson.loads(record.value)["id"]] += 1
        return predicate()

    def close(self) -> None:
        self.reader.close()


@pytest.fixture
def watcher(kafka_config: dict[str, Any]) -> Iterator[Callable[[str], Watcher]]:
    """``watcher(topic)`` -> a :class:`Watcher` of predictions, closed after the test."""
    made: list[Watcher] = []

    def make(topic: str) -> Watcher:
        made.append(Watcher(kafka_config, topic))
        return made[-1]

    yield make
    for each in made:
        each.close()


# ---------------------------------------------------------------- pipelines

@dataclass
class RunningPipeline:
    pipeline: Pipeline
    spec: PipelineSpec
    source_topic: str
    predictions_topic: str
    dead_letter_topic: str


@pytest.fixture
def pipeline_spec_factory(
    broker: EmbeddedBroker, model_factory: Callable[[str], Path],
    dataset_factory: Callable[[str], Dataset], topic_factory: Callable[..., str],
    http_port: int,
) -> Callable[..., PipelineSpec]:
    """``pipeline_spec_factory(model="breast_cancer", partitions=4, **overrides)`` -> a spec on
    the session broker with fresh topics; ``overrides`` merge into the YAML-shaped dict.

    ``model`` is an example model's name (its features come from its dataset; "diabetes" and
    "wine_mlp" read one array field "x") or a path, with ``features`` naming its fields;
    ``model_options`` adds keys to the ``model`` section (e.g. ``{"serving": "serve"}``).
    """

    def make(model: str | Path = "breast_cancer", partitions: int = 4,
             features: list[str] | None = None, model_options: dict[str, Any] | None = None,
             **overrides: Any) -> PipelineSpec:
        source_topic = topic_factory(partitions, prefix="events")
        source: dict[str, Any] = {"topics": [source_topic], "group_id": unique("group"),
                                  "id_field": "id", "partitions": partitions}
        if isinstance(model, Path):
            model_path = model
            source["features"] = features
        else:
            model_path = model_factory(model)
            if model in ("wine_mlp", "diabetes"):
                source["features_field"] = "x"
            else:
                source["features"] = features or dataset_factory(model).features
        data: dict[str, Any] = {
            "name": unique("p"),
            "kafka": {"bootstrap_servers": broker.bootstrap_servers,
                      "session_timeout_ms": 6000, "heartbeat_interval_ms": 500},
            "source": source,
            "model": {"path": str(model_path), **(model_options or {})},
            "batching": {"max_size": 128, "max_wait_ms": 5},
            "sink": {"predictions_topic": unique("predictions"),
                     "dead_letter_topic": unique("dead-letters")},
            "workers": {"count": 1, "num_cpus": 0.5, "max_restarts": 0},
            "metrics": {"port": 0},
            # Serve has one HTTP proxy per Ray: every pipeline of the session names its port.
            "http": {"port": http_port},
        }
        if "models" in overrides:
            del data["model"]
        return PipelineSpec.model_validate(deep_merge(data, overrides))

    return make


@pytest.fixture
def pipeline_factory(
    ray_session: None, pipeline_spec_factory: Callable[..., PipelineSpec]
) -> Iterator[Callable[..., RunningPipeline]]:
    """``pipeline_factory(model=..., partitions=..., **overrides)`` -> a started pipeline whose
    workers own every partition; stopped at the end of the test."""
    started: list[Pipeline] = []

    def make(*, ready: bool = True, **kwargs: Any) -> RunningPipeline:
        spec = pipeline_spec_factory(**kwargs)
        pipeline = Pipeline(spec).start()
        started.append(pipeline)
        if ready:
            pipeline.wait_ready(timeout_s=60)
        return RunningPipeline(pipeline, spec, spec.source.topics[0],
                               spec.sink.predictions_topic, spec.sink.dead_letter_topic)

    yield make
    for pipeline in started:
        pipeline.stop()


# Cluster and CLI tests: pipeline YAMLs in a temporary tree, with stand-in model files.
# Rendering never loads a model (it only ships its bytes), so these write small stand-ins.
FAKE_SECRET = "s3cr3t-Value-that-must-never-leak-7f3a"


def model_paths(data: dict[str, Any]) -> list[str]:
    """The model paths a pipeline mapping declares (``model:`` or each of ``models:``)."""
    models = data["models"] if "models" in data else [data["model"]]
    return [str(m["path"]) for m in models]


def fake_model(path: Path) -> bytes:
    """Write recognisable stand-in bytes for a model file (rendering does not parse them)."""
    data = b"fake-onnx:" + path.name.encode() + bytes(range(256))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


@pytest.fixture
def repo_config(tmp_path: Path) -> Callable[[str], Path]:
    """``repo_config("fraud-scoring")`` -> a copy of configs/<name>.yaml in a temporary tree
    (tmp/configs/...), with a stand-in model where each model path points."""

    def copy(name: str) -> Path:
        source = REPO / "configs" / f"{name}.yaml"
        target = tmp_path / "configs" / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        for declared in model_paths(yaml.safe_load(source.read_text())):
            fake_model((target.parent / declared).resolve())
        return target

    return copy


BASE_PIPELINE: dict[str, Any] = {
    "name": "scorer",
    "kafka": {"bootstrap_servers": "kafka-0.kafka:9092,kafka-1.kafka:9092"},
    "source": {"topics": ["events"], "group_id": "g", "features": ["a", "b"]},
    "model": {"path": "../models/model.onnx"},
    "sink": {"predictions_topic": "preds", "dead_letter_topic": "dlq"},
    "workers": {"count": 3, "num_cpus": 1},
}

SASL = {
    "protocol": "SASL_SSL",
    "sasl_mechanism": "SCRAM-SHA-512",
    "sasl_username_env": "KAFKA_USERNAME",
    "sasl_password_env": "KAFKA_PASSWORD",
}


@pytest.fixture
def fake_secret(monkeypatch: pytest.MonkeyPatch) -> str:
    """A secret value set in the environment under every name the SASL pipelines use."""
    for name in ("KAFKA_USERNAME", "KAFKA_PASSWORD", "KAFKA_KEY_PASSWORD"):
        monkeypatch.setenv(name, FAKE_SECRET)
    return FAKE_SECRET


@pytest.fixture
def sasl() -> dict[str, Any]:
    """A kafka.security block that reads SASL secrets from KAFKA_USERNAME / KAFKA_PASSWORD."""
    return dict(SASL)


@pytest.fixture
def write_pipeline(tmp_path: Path) -> Callable[..., Path]:
    """``write_pipeline(with_model=True, folder="pipelines", **overrides)`` -> a pipeline YAML in
    tmp/<folder>/ (BASE_PIPELINE merged with overrides; ``models=[...]`` replaces its
    ``model``), with a stand-in file for each model."""

    def write(with_model: bool = True, folder: str = "pipelines", **overrides: Any) -> Path:
        data = deep_merge(BASE_PIPELINE, overrides)
        if "models" in overrides:
            del data["model"]
        path = tmp_path / folder / "pipeline.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("# a test pipeline\n" + yaml.safe_dump(data, sort_keys=False))
        for declared in map(Path, model_paths(data)):
            if with_model and not declared.is_absolute():
                fake_model((path.parent / declared).resolve())
        return path

    return write
