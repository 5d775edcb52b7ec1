"""The automatic retraining of a running pipeline, wired to the driver's parts: the
training topic's end offsets, the serving version (the follower's), drift alerts (the drift
monitor's) and live metrics (the feedback joiners'). See ``pipelines/rollout/auto_retrain.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from streaminfer.pipelines.feedback.service import FeedbackService
from streaminfer.pipelines.kafka.lag_probe import LagProbe
from streaminfer.pipelines.lifecycle.registry import Registry, tracking_uri
from streaminfer.pipelines.lifecycle.retrain import registered_name
from streaminfer.pipelines.online.drift_monitor import DriftMonitor
from streaminfer.pipelines.rollout.actions import ActionLog
from streaminfer.pipelines.rollout.auto_retrain import AutoRetrain, Sources
from streaminfer.pipelines.rollout.follower import AliasFollower
from streaminfer.pipelines.spec.schema import PipelineSpec

log = logging.getLogger(__name__)
SQLITE = "sqlite:///"


class TopicEnds:
    """A topic's end offsets (exact high watermarks) per partition, from one probe kept
    open; used from one thread."""

    def __init__(self, kafka_config: dict[str, Any], topic: str | None) -> None:
        self.kafka_config, self.topic = kafka_config, topic
        self._probe: LagProbe | None = None

    def __call__(self) -> Mapping[int, int]:
        if self.topic is None:  # retrain.source.files: no new examples to count
            return {}
        if self._probe is None:
            self._probe = LagProbe(self.kafka_config, [self.topic], "streaminfer-ends-probe")
        return {tp.partition: end for tp, end in self._probe.end_offsets().items()}

    def close(self) -> None:
        if self._probe is not None:
            self._probe.close()


def start_auto_retrain(
    declared: PipelineSpec, bootstrap_servers: str, kafka_config: dict[str, Any],
    served: Mapping[str, str], actions: ActionLog, *, follower: AliasFollower | None,
    drift: DriftMonitor | None, feedback: FeedbackService | None,
) -> tuple[AutoRetrain, TopicEnds] | None:
    """Start the thread when ``retrain.when.enabled``; ``declared``: the pipeline's spec
    as written (its ``models:/`` paths), ``served``: model -> version started with."""
    rt = declared.retrain
    if rt is None or not rt.when.enabled:
        return None
    registered = registered_name(declared)
    model = next((m.model_name for m in declared.model_specs
                  if m.registry_ref is not None and m.registry_ref.name == registered),
                 declared.model_specs[0].model_name)
    if rt.when.then == "shadow" and follower is None:
        log.warning("retrain.when.then is 'shadow' but model %s does not follow an alias "
                    "(models:/NAME@champion): its candidates are registered, not shadowed",
                    model)
    uri = tracking_uri(declared.registry.tracking_uri if declared.registry else None)
    if uri.startswith(SQLITE):  # the task runs in another process: an absolute path
        uri = SQLITE + str(Path(uri[len(SQLITE):]).resolve())
    spec = declared.model_copy(update={"kafka": declared.kafka.model_copy(
        update={"bootstrap_servers": bootstrap_servers})})
    registry = Registry.from_spec(declared.registry, uri)
    ends = TopicEnds(kafka_config, rt.source.topic)

    def serving() -> str:
        return follower.serving.get(model, served[model]) if follower else served[model]

    def drift_alerts(version: str) -> int:
        states = drift.states() if drift is not None else []
        return sum(s.alerts for s in states if (s.model, s.version) == (model, version))

    def live(version: str) -> Mapping[str, float]:
        summary = feedback.summary() if feedback is not None else None
        return summary.live.get((model, version), {}) if summary is not None else {}

    thread = AutoRetrain(spec, model, registered, registry,
                         Sources(ends, serving, drift_alerts, live), actions)
    return thread.start(), ends

