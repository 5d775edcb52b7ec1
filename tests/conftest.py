"""Shared fixtures. Integration tests run against one real embedded broker and one real local
Ray per test session; each test gets fresh topics, so tests never see each other's data.
pytest-xdist runs three sessions by default (pyproject's addopts), one per worker process: each
builds its own broker, Ray, models and registry template under its own ``tmp_path_factory``
folder, so nothing a session makes may go to a fixed port or into the repository.

Factories:
- ``model_factory(name)``: an example model trained from scikit-learn's bundled data (cached).
- ``topic_factory(partitions)``: a new, empty topic on the session broker.
- ``pipeline_factory(**overrides)``: a started :class:`Pipeline` on fresh topics.
- ``produce(topic, values, keys=None)`` and ``read_topic(topic, count)``: real Kafka I/O.
- ``make_events(dataset, count)``: JSON events ``e0, e1, ...`` of a dataset's rows, and keys.
- ``feeder(topic, dataset, count, rate=None)``: a thread producing such events (halted and
  joined after the test); ``watcher(topic)``: counts predictions per id on a topic.
- ``read_all(topic)``: everything a topic holds, no waiting (after its writers stopped).
- ``ray_address``: the session Ray's address, for a test's own process to join.
- ``registry`` (tests/pipelines/conftest.py): a store of its own, copied from one migrated
  empty store per session (``empty_registry_db``).
- ``tests.fixtures.cli``: ``streaminfer(...)`` runs a real process; ``streaminfer_here(...)``
  the same entry point in this process, where the process is not what a test proves.
- Waiting for remote state: ``streaminfer.waiting.wait_until``.

Time: the broker holds every consumer-group (re)join for ~3 s, and a process of its own
costs an interpreter, imports and often a Ray (5-10 s): share what only gets read, join the
session's Ray, and keep real processes for what is about processes (signals, exit codes).

They live in ``tests/fixtures/`` by subject (models, kafka, streams, pipelines, configs,
hygiene) and
are loaded here as plugins, so every test folder sees them.
"""

import logging

import pytest

logging.getLogger("kafka").setLevel(logging.CRITICAL)

pytest_plugins = [
    "tests.fixtures.models",
    "tests.fixtures.kafka",
    "tests.fixtures.streams",
    "tests.fixtures.pipelines",
    "tests.fixtures.configs",
    "tests.fixtures.hygiene",
    "tests.fixtures.feedback_pipelines",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Integration tests first, otherwise in collection order: pytest-xdist hands out whole
    files in this order, so the long files start early and the short unit files fill the
    end, where the other processes would wait on the last long one (docs/decisions.md)."""
    items.sort(key=lambda item: item.get_closest_marker("integration") is None)
