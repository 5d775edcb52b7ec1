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

They live in ``tests/fixtures/`` by subject (models, kafka, streams, pipelines, configs,
hygiene) and
are loaded here as plugins, so every test folder sees them.
"""

import logging

logging.getLogger("kafka").setLevel(logging.CRITICAL)

pytest_plugins = [
    "tests.fixtures.models",
    "tests.fixtures.kafka",
    "tests.fixtures.streams",
    "tests.fixtures.pipelines",
    "tests.fixtures.configs",
    "tests.fixtures.hygiene",
]
