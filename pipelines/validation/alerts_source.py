"""Where ``streaminfer validate`` reads the alerts that mark its timeline's moments.

``--alerts kafka:TOPIC`` (a topic range, as ``--data``) or ``--alerts FILE`` (JSON lines);
without it, when the data comes from a topic, the config's own alert topics on the same
broker (``rollout.alerts_topic``, ``drift.alerts_topic``), those that exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streaminfer.errors import DataError
from streaminfer.operators.topic_ranges import is_topic_source
from streaminfer.pipelines.kafka.factory import new_consumer
from streaminfer.pipelines.spec.kafka_settings import client_config
from streaminfer.pipelines.spec.schema import PipelineSpec
from streaminfer.pipelines.validation.data import broker_address, topic_records
from streaminfer.pipelines.validation.moments import decode_alerts


@dataclass(frozen=True)
class AlertsRead:
    """The alerts read, where from, and how many records were not JSON objects."""

    where: tuple[str, ...]
    alerts: list[dict[str, Any]]
    skipped: int = 0


def read_alerts(spec: PipelineSpec, source: str | None, *, data: str,
                bootstrap_servers: str | None) -> AlertsRead | None:
    """The alerts ``source`` names; without one, those of the config's alert topics when
    ``data`` is a topic (``None`` when there is nothing to read)."""
    if source is not None and not is_topic_source(source):
        return _from_file(Path(source))
    if source is not None:
        sources = [source]
    elif is_topic_source(data):
        topics = _existing(spec, config_alert_topics(spec), bootstrap_servers)
        sources = [f"kafka:{topic}" for topic in topics]
    else:
        sources = []
    if not sources:
        return None
    alerts: list[dict[str, Any]] = []
    skipped = 0
    for where in sources:
        found, bad = decode_alerts(r.value for r in topic_records(spec, where,
                                                                  bootstrap_servers))
        alerts += found
        skipped += bad
    return AlertsRead(tuple(sources), alerts, skipped)


def config_alert_topics(spec: PipelineSpec) -> list[str]:
    """The topics the config's automatic actions and drift alerts go to."""
    topics = [spec.rollout.alerts_topic]
    if spec.drift is not None and spec.drift.enabled:
        topics.append(spec.drift.alerts_topic)
    return list(dict.fromkeys(topics))


def _existing(spec: PipelineSpec, topics: list[str], bootstrap_servers: str | None,
              ) -> list[str]:
    """Those of ``topics`` the broker has."""
    config = client_config(spec.kafka, broker_address(spec, bootstrap_servers))
    consumer = new_consumer(config)
    try:
        known = consumer.topics()
    finally:
        consumer.close(autocommit=False)
    return [t for t in topics if t in known]


def _from_file(path: Path) -> AlertsRead:
    """Alerts as JSON lines in a file (one alert object a line)."""
    if not path.is_file():
        raise DataError(f"--alerts {path}: no such file (give a JSON lines file of alerts, "
                        "or kafka:TOPIC)")
    lines = [line for line in path.read_bytes().splitlines() if line.strip()]
    alerts, skipped = decode_alerts(lines)
    return AlertsRead((str(path),), alerts, skipped)
